package rewrite

import (
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nyaruka/phonenumbers"
)

// A typical CreateCallRequest: about 300 bytes, two address fields.
const (
	benchCanonical = `{"phoneNumber":"tel:+15551234567","callerId":"+13175550100","callerIdName":"Support Line",` +
		`"callFromQueueId":"7d3cd1a5-2f0e-4c8b-9b3f-0b1c5a8e9d21","callQueueId":null,"priority":0,` +
		`"languageId":"en-us","routingSkillsIds":[],"participants":[{"address":"user:2ca3b6e8-0000-4000-8000-000000000001"}],` +
		`"uuiData":"ticket-48213"}`
	benchOneNational = `{"phoneNumber":"(555) 123-4567","callerId":"+13175550100","callerIdName":"Support Line",` +
		`"callFromQueueId":"7d3cd1a5-2f0e-4c8b-9b3f-0b1c5a8e9d21","callQueueId":null,"priority":0,` +
		`"languageId":"en-us","routingSkillsIds":[],"participants":[{"address":"user:2ca3b6e8-0000-4000-8000-000000000001"}],` +
		`"uuiData":"ticket-48213"}`
	benchTwoFields = `{"phoneNumber":"(555) 123-4567","callerId":"3175550100","callerIdName":"Support Line",` +
		`"callFromQueueId":"7d3cd1a5-2f0e-4c8b-9b3f-0b1c5a8e9d21","callQueueId":null,"priority":0,` +
		`"languageId":"en-us","routingSkillsIds":[],"participants":[{"address":"user:2ca3b6e8-0000-4000-8000-000000000001"}],` +
		`"uuiData":"ticket-48213"}`
	// Two fields that need no phonenumbers work: the engine's own cost.
	benchTwoUsers = `{"phoneNumber":"tel:+15551234567","callerId":"+13175550100","callerIdName":"Support Line",` +
		`"callFromQueueId":"7d3cd1a5-2f0e-4c8b-9b3f-0b1c5a8e9d21","callQueueId":null,"priority":0,` +
		`"languageId":"en-us","routingSkillsIds":[],"participants":[{"address":"2ca3b6e8-0000-4000-8000-000000000001"},` +
		`{"address":"5b0e8f7a-1111-4000-8000-000000000002"}],"uuiData":"ticket-48213"}`
)

func benchParticipants(n int) string {
	var b strings.Builder
	b.WriteString(`{"callerId":"+13175550100","participants":[`)
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"address":"(555) %03d-%04d","name":"participant %d"}`, i%1000, i, i)
	}
	b.WriteString(`]}`)
	return b.String()
}

// benchPossible is the engine at level possible, which the 555 numbers of
// the benchmarks below pass (the figures in docs/BENCHMARKS.md before and
// after level valid became the default are comparable).
func benchPossible(b *testing.B) *Engine {
	opts := DefaultOptions()
	opts.Level = LevelPossible
	e, err := New(DefaultRules(), opts)
	if err != nil {
		b.Fatal(err)
	}
	return e
}

func benchRewrite(b *testing.B, body string, wantChanges int) {
	benchRewriteWith(b, benchPossible(b), "US", body, [3]int{wantChanges, 0, 0})
}

// benchRewriteWith rewrites body read in country; want is the number of
// changes, kept values and problems.
func benchRewriteWith(b *testing.B, e *Engine, country, body string, want [3]int) {
	r := e.Match("POST", "/api/v2/conversations/calls")
	in := []byte(body)
	res := e.Rewrite(r, in, country)
	if got := [3]int{len(res.Changes), len(res.Kept), len(res.Problems)}; got != want {
		b.Fatalf("changes, kept, problems = %v, want %v: %+v", got, want, res)
	}
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		e.Rewrite(r, in, country)
	}
}

// At the default level valid: two assigned numbers repaired (the fast
// path, then phonenumbers' IsValidNumber), values kept on purpose, and a
// London number read in Ireland.
const (
	benchTwoFieldsValid = `{"phoneNumber":"(317) 222-4567","callerId":"3175550100","callerIdName":"Support Line",` +
		`"callFromQueueId":"7d3cd1a5-2f0e-4c8b-9b3f-0b1c5a8e9d21","callQueueId":null,"priority":0,` +
		`"languageId":"en-us","routingSkillsIds":[],"participants":[{"address":"user:2ca3b6e8-0000-4000-8000-000000000001"}],` +
		`"uuiData":"ticket-48213"}`
	benchKept = `{"phoneNumber":"911","callerId":"+13175550100","callerIdName":"Support Line",` +
		`"callFromQueueId":"7d3cd1a5-2f0e-4c8b-9b3f-0b1c5a8e9d21","callQueueId":null,"priority":0,` +
		`"languageId":"en-us","routingSkillsIds":[],"participants":[{"address":"30005"},{"address":"ForceDisconnect@localhost"}],` +
		`"uuiData":"ticket-48213"}`
	benchWrongCountry = `{"phoneNumber":"020 7946 0958","callerId":"+353850123456","callerIdName":"Support Line",` +
		`"callFromQueueId":"7d3cd1a5-2f0e-4c8b-9b3f-0b1c5a8e9d21","callQueueId":null,"priority":0,` +
		`"languageId":"en-us","routingSkillsIds":[],"participants":[{"address":"user:2ca3b6e8-0000-4000-8000-000000000001"}],` +
		`"uuiData":"ticket-48213"}`
)

func BenchmarkRewrite_Valid_TwoFields(b *testing.B) {
	benchRewriteWith(b, Default(), "US", benchTwoFieldsValid, [3]int{2, 0, 0})
}
func BenchmarkRewrite_Valid_Kept(b *testing.B) {
	benchRewriteWith(b, Default(), "US", benchKept, [3]int{0, 3, 0})
}
func BenchmarkRewrite_Valid_NotValidInCountry(b *testing.B) {
	benchRewriteWith(b, Default(), "IE", benchWrongCountry, [3]int{0, 0, 1})
}

func BenchmarkRewrite_Canonical(b *testing.B)       { benchRewrite(b, benchCanonical, 0) }
func BenchmarkRewrite_OneNational(b *testing.B)     { benchRewrite(b, benchOneNational, 1) }
func BenchmarkRewrite_TwoFields(b *testing.B)       { benchRewrite(b, benchTwoFields, 2) }
func BenchmarkRewrite_TwoUserIDs(b *testing.B)      { benchRewrite(b, benchTwoUsers, 2) }
func BenchmarkRewrite_100Participants(b *testing.B) { benchRewrite(b, benchParticipants(100), 100) }

// The phonenumbers work inside BenchmarkRewrite_TwoFields, alone: parse,
// possibility check and E.164 format of its two numbers. TwoFields minus
// this is the engine's own cost.
func BenchmarkPhonenumbers_TwoNumbers(b *testing.B) {
	b.ReportAllocs()
	var num phonenumbers.PhoneNumber
	for i := 0; i < b.N; i++ {
		for _, s := range []string{"5551234567", "3175550100"} {
			num.Reset()
			if err := phonenumbers.ParseToNumber(s, "US", &num); err != nil {
				b.Fatal(err)
			}
			if phonenumbers.IsPossibleNumberWithReason(&num) != phonenumbers.IS_POSSIBLE {
				b.Fatal("not possible")
			}
			_ = phonenumbers.Format(&num, phonenumbers.E164)
		}
	}
}

// BenchmarkRewrite_TwoFields_EngineOnly is TwoFields with phonenumbers
// replaced by a table of its answers: the engine's own cost, exactly.
func BenchmarkRewrite_TwoFields_EngineOnly(b *testing.B) {
	answers := map[string]string{"5551234567": "+15551234567", "3175550100": "+13175550100"}
	defer func(p func([]byte, bool, string, Level) (string, string, Reason)) { parse = p }(parse)
	parse = func(d []byte, plus bool, country string, level Level) (string, string, Reason) {
		return answers[string(d)], country, reasonNone
	}
	benchRewrite(b, benchTwoFields, 2)
}

// BenchmarkMatch: routing a request to its rule, hit and miss.
func BenchmarkMatch(b *testing.B) {
	e := Default()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if e.Match("POST", "/api/v2/conversations/calls/user/2ca3b6e8-0000-4000-8000-000000000001?x=1") == nil {
			b.Fatal("no match")
		}
		if e.Match("GET", "/api/v2/users/me") != nil {
			b.Fatal("match")
		}
	}
}

// BenchmarkFirstRequest measures the first rewrite of a national number in
// a fresh process, where phonenumbers compiles its patterns on first use,
// without and with Warm at start-up, beside a later request. Each sample
// re-runs this test binary (see TestMain), because a process warms only
// once. Metrics: cold-first-ns, warmed-first-ns, steady-ns (per request).
func BenchmarkFirstRequest(b *testing.B) {
	var cold, warmed, steady time.Duration
	for i := 0; i < b.N; i++ {
		c, s1 := firstRequestSample(b, false)
		w, s2 := firstRequestSample(b, true)
		cold, warmed, steady = cold+c, warmed+w, steady+(s1+s2)/2
	}
	n := float64(b.N)
	b.ReportMetric(float64(cold.Nanoseconds())/n, "cold-first-ns")
	b.ReportMetric(float64(warmed.Nanoseconds())/n, "warmed-first-ns")
	b.ReportMetric(float64(steady.Nanoseconds())/n, "steady-ns")
	b.ReportMetric(0, "ns/op")
}

const firstRequestEnv = "CALLFIX_BENCH_FIRST_REQUEST"

func firstRequestSample(b *testing.B, warm bool) (first, later time.Duration) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	mode := "cold"
	if warm {
		mode = "warm"
	}
	cmd.Env = append(os.Environ(), firstRequestEnv+"="+mode)
	out, err := cmd.Output()
	if err != nil {
		b.Fatalf("first-request child: %v", err)
	}
	var f, l int64
	if _, err := fmt.Sscanf(string(out), "%d %d", &f, &l); err != nil {
		b.Fatalf("first-request child printed %q", out)
	}
	return time.Duration(f), time.Duration(l)
}

// TestMain serves BenchmarkFirstRequest's child processes: with
// CALLFIX_BENCH_FIRST_REQUEST set it times one first and one later
// rewrite, prints them and exits; otherwise it runs the tests.
func TestMain(m *testing.M) {
	if mode := os.Getenv(firstRequestEnv); mode != "" {
		e := Default()
		r := e.Match("POST", "/api/v2/conversations/calls")
		if mode == "warm" {
			Warm("GB")
		}
		t0 := time.Now()
		e.Rewrite(r, []byte(`{"phoneNumber":"020 7946 0958"}`), "GB")
		first := time.Since(t0)
		// A later request: the median of nine, so that the process's first
		// garbage collection does not stand in for it.
		var later [9]time.Duration
		for i := range later {
			body := []byte(fmt.Sprintf(`{"phoneNumber":"020 7946 %04d"}`, 1000+i))
			t1 := time.Now()
			e.Rewrite(r, body, "GB")
			later[i] = time.Since(t1)
		}
		slices.Sort(later[:])
		fmt.Println(first.Nanoseconds(), later[4].Nanoseconds())
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// The fast path's worth at the default level valid: the two national
// numbers of Rewrite_Valid_TwoFields read by the engine's path (fast path,
// then IsValidNumberForRegion) and by phonenumbers' general parser alone.
func benchParseTwoValid(b *testing.B, parse func([]byte, bool, string, Level) (string, string, Reason)) {
	nums := [][]byte{[]byte("3172224567"), []byte("3175550100")}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		for _, d := range nums {
			if _, _, why := parse(d, false, "US", LevelValid); why != reasonNone {
				b.Fatalf("%s: %v", d, why)
			}
		}
	}
}

func BenchmarkParse_TwoValid_FastPath(b *testing.B)     { benchParseTwoValid(b, parseNumber) }
func BenchmarkParse_TwoValid_Phonenumbers(b *testing.B) { benchParseTwoValid(b, parseNumberSlow) }
