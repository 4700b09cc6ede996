package report

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/klauspost/compress/gzip"
)

// record is one audit record as read from a log: the fields of
// docs/AUDIT.md, those added later (kept values, client identity) included
// when present. A field a record does not have stays empty.
type record struct {
	Time     time.Time `json:"time"`
	Msg      string    `json:"msg"`
	Route    string    `json:"route"`
	Mode     string    `json:"mode"`
	Outcome  string    `json:"outcome"`
	Changes  []change  `json:"changes"`
	Problems []problem `json:"problems"`
	Kept     []kept    `json:"kept"`
	Skipped  string    `json:"skipped"`

	ClientID      string `json:"client_id"`
	TokenID       string `json:"token_id"`
	ClientAddress string `json:"client_address"`
	UserAgent     string `json:"user_agent"`
}

type change struct {
	Field string `json:"field"`
	Kind  string `json:"kind"`
	From  string `json:"from"`
	To    string `json:"to"`
}

type problem struct {
	Field  string `json:"field"`
	Reason string `json:"reason"`
	Value  string `json:"value"`
}

type kept struct {
	Field  string `json:"field"`
	Reason string `json:"reason"`
	Value  string `json:"value"`
}

// auditMsg is the msg of every audit record; a line without it is some
// other log line.
const auditMsg = "callfix.audit"

var auditMarker = []byte(`"` + auditMsg + `"`)

// maxLine bounds one line: an audit record is a few hundred bytes; a longer
// line is counted as malformed and skipped, never buffered whole.
const maxLine = 1 << 20

// lineKind is what a line of a log turned out to be.
type lineKind uint8

const (
	lineRecord    lineKind = iota // an audit record, decoded
	lineOther                     // another log line: skipped
	lineMalformed                 // claims to be an audit record but cannot be read
)

// parseLine decodes one line into r. Text before the first '{' is ignored,
// so lines prefixed by docker compose logs or journalctl are read too.
func parseLine(line []byte, r *record) (lineKind, error) {
	i := bytes.IndexByte(line, '{')
	if i < 0 || !bytes.Contains(line[i:], auditMarker) {
		return lineOther, nil
	}
	*r = record{}
	if err := json.Unmarshal(line[i:], r); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return lineMalformed, fmt.Errorf("not JSON at byte %d", int64(i)+se.Offset)
		}
		var pe *time.ParseError
		if errors.As(err, &pe) {
			return lineMalformed, errors.New(`"time" is not RFC 3339`)
		}
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return lineMalformed, fmt.Errorf("field %q is not a %s", te.Field, te.Type)
		}
		return lineMalformed, errors.New("cannot decode the record")
	}
	if r.Msg != auditMsg {
		return lineOther, nil
	}
	if r.Time.IsZero() {
		return lineMalformed, errors.New(`no "time"`)
	}
	if r.Outcome == "" {
		return lineMalformed, errors.New(`no "outcome"`)
	}
	return lineRecord, nil
}

// gzipMagic starts every gzip stream (RFC 1952 §2.3.1).
var gzipMagic = []byte{0x1f, 0x8b}

// lines calls fn for each line of r, decompressing it first when it is
// gzip (several concatenated members, as rotated logs are, included). A
// line longer than maxLine is skipped and reported with tooLong.
func lines(r io.Reader, fn func(line []byte, tooLong bool)) error {
	br := bufio.NewReaderSize(r, 64<<10)
	if magic, err := br.Peek(2); err == nil && bytes.Equal(magic, gzipMagic) {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return fmt.Errorf("cannot read gzip: %w", err)
		}
		defer zr.Close()
		br = bufio.NewReaderSize(zr, 64<<10)
	}
	var long []byte
	tooLong := false
	for {
		chunk, err := br.ReadSlice('\n')
		switch {
		case err == bufio.ErrBufferFull:
			if !tooLong && len(long)+len(chunk) <= maxLine {
				long = append(long, chunk...)
			} else {
				tooLong, long = true, long[:0]
			}
			continue
		case len(chunk) > 0 || len(long) > 0:
			line, skip := chunk, false
			if len(long) > 0 || tooLong {
				n := len(long) + len(chunk)
				if len(chunk) > 0 && chunk[len(chunk)-1] == '\n' {
					n-- // the bound is on the content
				}
				if !tooLong && n <= maxLine {
					line = append(long, chunk...)
				} else {
					line, skip = nil, true
				}
				long, tooLong = long[:0], false
			}
			fn(bytes.TrimRight(line, "\r\n"), skip)
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}
