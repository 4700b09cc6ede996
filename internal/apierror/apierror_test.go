package apierror

import (
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/callfix/callfix/rewrite"
)

func TestJSON_HasEveryGenesysField(t *testing.T) {
	var m map[string]any
	if err := json.Unmarshal(New(502, CodeUpstreamUnavailable, "upstream unavailable", "req-1").JSON(), &m); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	want := []string{"code", "contextId", "details", "errors", "message", "messageParams", "messageWithParams", "status"}
	if got := sortStrings(keys); !reflect.DeepEqual(got, want) {
		t.Errorf("keys = %v, want %v", got, want)
	}
	if m["status"].(float64) != 502 || m["contextId"] != "req-1" {
		t.Errorf("body = %v", m)
	}
}

func TestInvalidAddress_NamesFieldsAndMasksValues(t *testing.T) {
	probs := []rewrite.Problem{
		{Path: "phoneNumber", Value: "5551234", Reason: rewrite.ReasonLocalOnly, Country: "US"},
		{Path: "participants[1].address", Value: "abc<&>", Reason: rewrite.ReasonCharacters},
	}
	b := InvalidAddress(probs, func(string) string { return "MASKED" }, "ctx")
	js := string(b.JSON())
	if strings.Contains(js, "5551234") || strings.Contains(js, "abc") {
		t.Errorf("body leaks a value: %s", js)
	}
	if b.Status != 400 || b.Code != CodeInvalidAddress || len(b.Details) != 2 ||
		b.Details[1] != (Detail{ErrorCode: "callfix.invalid.address.invalid_characters", FieldName: "participants[1].address"}) {
		t.Errorf("body = %+v", b)
	}
	if !strings.Contains(b.Message, "phoneNumber (\"MASKED\") is a local number without its area code (read as a number of US)") {
		t.Errorf("message = %q", b.Message)
	}
	if b.MessageParams["count"] != "2" {
		t.Errorf("messageParams = %v", b.MessageParams)
	}
}

func sortStrings(s []string) []string {
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	return s
}

// At most max problems are listed, in details and in the message, which
// then counts the rest; the count is the total.
func TestInvalidAddressN_ListsAtMostMax(t *testing.T) {
	f := func(n, max, wantListed int, wantMore string) {
		t.Helper()
		probs := make([]rewrite.Problem, n)
		for i := range probs {
			probs[i] = rewrite.Problem{Path: "participants[" + strconv.Itoa(i) + "].address", Value: "a", Reason: rewrite.ReasonCharacters}
		}
		b := InvalidAddressN(probs, func(string) string { return "" }, "ctx", max)
		if len(b.Details) != wantListed || strings.Count(b.Message, "participants[") != wantListed {
			t.Errorf("%d problems, max %d: %d details, message %q; want %d listed", n, max, len(b.Details), b.Message, wantListed)
		}
		if got := strings.Contains(b.Message, "more"); got != (wantMore != "") || wantMore != "" && !strings.Contains(b.Message, wantMore) {
			t.Errorf("%d problems, max %d: message = %q, want %q", n, max, b.Message, wantMore)
		}
		if b.MessageParams["count"] != strconv.Itoa(n) {
			t.Errorf("%d problems: count = %q", n, b.MessageParams["count"])
		}
	}
	f(2, 2, 2, "")
	f(3, 2, 2, "and 1 more")
	f(25, DefaultMaxDetails, 20, "and 5 more")
	if got := len(InvalidAddress(make([]rewrite.Problem, 30), func(string) string { return "" }, "c").Details); got != DefaultMaxDetails {
		t.Errorf("InvalidAddress lists %d, want DefaultMaxDetails", got)
	}
}

// The enforce-mode answer to a body callfix cannot read says why.
func TestUnreadable_SaysWhy(t *testing.T) {
	f := func(s rewrite.Skip, want string) {
		t.Helper()
		b := Unreadable(s, "ctx")
		if b.Status != 400 || b.Code != CodeBadRequest || !strings.Contains(b.Message, want) || b.ContextID != "ctx" {
			t.Errorf("%q: body = %+v, want 400 %s saying %q", s, b, CodeBadRequest, want)
		}
	}
	f(rewrite.SkipTrailingData, "data after the JSON object")
	f(rewrite.SkipNotUTF8, "not UTF-8")
	f(rewrite.SkipTooDeep, "deeper than 10000")
	f(rewrite.SkipNotJSON, "not JSON")
	f(rewrite.SkipTruncated, "truncated")
	f(rewrite.SkipNotObject, "not a JSON object")
}
