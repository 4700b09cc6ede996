package rewrite

import (
	"errors"
	"strings"
	"testing"
)

// keepEngine is the configuration's default engine with extra options.
func keepEngine(t *testing.T, opts Options) *Engine {
	t.Helper()
	e, err := New(DefaultRules(), opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return e
}

func checkKept(t *testing.T, e *Engine, f Format, in, country string, want KeepReason) {
	t.Helper()
	got := e.Normalize(f, in, country)
	if got.Keep != want || got.Reason != reasonNone || got.Changed || got.Value != in {
		t.Errorf("Normalize(%v, %q, %q) = %+v, want kept as sent (%s)", f, in, country, got, want)
	}
}

// Emergency numbers and short codes of eight countries, in the forms
// integrations send: plain, with separators, and as tel: URIs. They are
// never a problem and never rewritten, at any validation level.
func TestKeep_EmergencyAndShortCodes(t *testing.T) {
	for _, level := range []Level{LevelPossible, LevelValid, LevelStrict} {
		opts := DefaultOptions()
		opts.Level = level
		e := keepEngine(t, opts)
		f := func(in, country string, want KeepReason) {
			t.Helper()
			for _, format := range []Format{FormatAddress, FormatTel, FormatE164} {
				checkKept(t, e, format, in, country, want)
			}
		}
		// US
		f("911", "US", KeepEmergency)
		f("tel:911", "US", KeepEmergency)
		f("112", "US", KeepEmergency)
		f("988", "US", KeepShortCode) // Suicide and Crisis Lifeline
		f("411", "US", KeepShortCode)
		// GB
		f("999", "GB", KeepEmergency)
		f("112", "GB", KeepEmergency)
		f("116 123", "GB", KeepShortCode) // Samaritans
		f("111", "GB", KeepShortCode)     // NHS
		f("116123", "GB", KeepExtension)  // digits only, 4 to 6 of them: an extension first
		// IE
		f("999", "IE", KeepEmergency)
		f("112", "IE", KeepEmergency)
		f("116 123", "IE", KeepShortCode)
		f("50442", "IE", KeepExtension)
		// DE
		f("110", "DE", KeepEmergency)
		f("112", "DE", KeepEmergency)
		f("115", "DE", KeepShortCode)
		f("116 116", "DE", KeepShortCode)
		// AU
		f("000", "AU", KeepEmergency)
		f("tel:000", "AU", KeepEmergency)
		f("112", "AU", KeepEmergency)
		f("225", "AU", KeepShortCode)
		// JP
		f("110", "JP", KeepEmergency)
		f("119", "JP", KeepEmergency)
		f("118", "JP", KeepShortCode) // coast guard
		// BR
		f("190", "BR", KeepEmergency)
		f("192", "BR", KeepEmergency)
		f("100", "BR", KeepShortCode)
		// IN
		f("100", "IN", KeepEmergency)
		f("112", "IN", KeepEmergency)
		f("104", "IN", KeepShortCode)
		f("1098", "IN", KeepExtension) // a short code too, but 4 digits are an extension first
	}
}

// An emergency number followed by more digits connects where phonenumbers
// says it does (911 then anything in the US); where the extra digits break
// it (BR), the value is judged as a number like any other.
func TestKeep_EmergencyPrefixConnects(t *testing.T) {
	e := Default()
	checkKept(t, e, FormatAddress, "9111234", "US", KeepEmergency)
	if got := e.Normalize(FormatAddress, "1901234", "BR"); got.Keep != keepNone {
		t.Errorf("Normalize(1901234, BR) = %+v: in Brazil an emergency number must be exact", got)
	}
	// A valid national number is repaired, whatever it starts with.
	if got := e.Normalize(FormatAddress, "1 317 222 2222", "US"); got.Keep != keepNone || got.Value != "tel:+13172222222" {
		t.Errorf("Normalize(1 317 222 2222, US) = %+v, want a repair", got)
	}
}

// Digit-only values as long as the Extension plan takes are extensions,
// even where they would also be national numbers (30005 in Germany); the
// edges of the range are exact and the plan can be turned off.
func TestKeep_Extensions(t *testing.T) {
	e := Default()
	f := func(in, country string) {
		t.Helper()
		checkKept(t, e, FormatAddress, in, country, KeepExtension)
	}
	f("1234", "US")
	f("12345", "US")
	f("123456", "US")
	f("tel:4567", "US")
	f("30005", "DE")
	f("tel:30005", "DE")
	f("30005", "US") // a US short code too: the Extension plan comes first
	f("1234", "GB")
	f("4321", "JP")

	reject := func(e *Engine, in, country string, want Reason) {
		t.Helper()
		if got := e.Normalize(FormatAddress, in, country); got.Keep != keepNone || got.Reason != want {
			t.Errorf("Normalize(%q, %q) = %+v, want problem %s", in, country, got, want)
		}
	}
	reject(e, "139", "US", ReasonTooShort)      // one digit short of the range: no short code, no emergency number anywhere
	reject(e, "1234567", "US", ReasonLocalOnly) // one past it
	reject(e, "12-34", "US", ReasonTooShort)    // an extension is digits only

	narrow := keepEngine(t, Options{Level: LevelValid, ExtensionDigits: DigitRange{Min: 5, Max: 5}})
	checkKept(t, narrow, FormatAddress, "23456", "US", KeepExtension)
	reject(narrow, "1234", "US", ReasonTooShort)
	reject(narrow, "123456", "US", ReasonTooShort)

	off := keepEngine(t, Options{Level: LevelValid})
	reject(off, "1234", "US", ReasonTooShort)
	checkKept(t, off, FormatAddress, "911", "US", KeepEmergency) // emergency numbers do not depend on the plan
}

// user@host is Genesys's Network plan: ^([^@:]+@)([^@ ]+)?$.
func TestKeep_NetworkAddresses(t *testing.T) {
	e := Default()
	f := func(in string) {
		t.Helper()
		checkKept(t, e, FormatAddress, in, "US", KeepNetworkAddress)
	}
	f("ForceDisconnect@localhost")
	f("agent.1@pbx.example.com")
	f("5551234567@10.0.0.5")
	f("alice@")
	reject := func(format Format, in string) {
		t.Helper()
		if got := e.Normalize(format, in, "US"); got.Keep != keepNone || got.Reason == reasonNone {
			t.Errorf("Normalize(%v, %q) = %+v, want a problem", format, in, got)
		}
	}
	reject(FormatAddress, "@localhost")     // no user part
	reject(FormatAddress, "a@b@c")          // a second @
	reject(FormatAddress, "alice@two host") // a space in the host
	reject(FormatAddress, "mailto:alice@example.com")
	reject(FormatTel, "ForceDisconnect@localhost") // a tel field takes numbers
	reject(FormatE164, "ForceDisconnect@localhost")
	// sip: URIs are canonical, not kept on purpose.
	if got := e.Normalize(FormatAddress, "sip:alice@example.com", "US"); got.Keep != keepNone || got.Reason != reasonNone || got.Changed {
		t.Errorf("sip: URI = %+v, want canonical", got)
	}
}

// addresses.keep: RE2 patterns matched against the whole value as sent.
func TestKeep_OperatorPatterns(t *testing.T) {
	e := keepEngine(t, Options{Level: LevelValid, ExtensionDigits: DefaultExtensionDigits, Keep: []string{`\*[0-9]{2,4}`, `(?i)queue:.+`, `9[0-9]{7}`}})
	checkKept(t, e, FormatAddress, "*72", "US", KeepOperatorPattern)
	checkKept(t, e, FormatAddress, "QUEUE:sales", "US", KeepOperatorPattern)
	checkKept(t, e, FormatTel, "91234567", "US", KeepOperatorPattern) // a site's outside-line prefix
	checkKept(t, e, FormatUser, "*72", "US", KeepOperatorPattern)
	// The whole value: a pattern does not match inside a value.
	if got := e.Normalize(FormatAddress, "x*72", "US"); got.Keep != keepNone {
		t.Errorf("x*72 = %+v: a pattern must match the whole value", got)
	}
	// Earlier reasons win.
	checkKept(t, e, FormatAddress, "911", "US", KeepEmergency)
}

func TestCompileKeepPatterns_Errors(t *testing.T) {
	_, err := CompileKeepPatterns([]string{`ok[0-9]`, `(ab`, `x**`, ``})
	if err == nil {
		t.Fatal("no error for bad patterns")
	}
	var pes []*PatternError
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var pe *PatternError
		if !errors.As(e, &pe) {
			t.Fatalf("error %v is not a *PatternError", e)
		}
		pes = append(pes, pe)
	}
	if len(pes) != 3 || pes[0].Index != 1 || pes[1].Index != 2 || pes[2].Index != 3 {
		t.Fatalf("errors = %v, want patterns 1, 2 and 3", err)
	}
	if got, want := pes[1].Offset(), 1; got != want {
		t.Errorf("offset of %q = %d, want %d", pes[1].Pattern, got, want)
	}
	for _, want := range []string{`pattern 1 ("(ab")`, "missing closing )", `pattern 2 ("x**")`, "at byte 1", `pattern 3 ("")`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
	if _, err := New(DefaultRules(), Options{Keep: []string{"(ab"}}); err == nil {
		t.Error("New accepted a bad keep pattern")
	}
}

func TestParseDigitRange(t *testing.T) {
	f := func(in string, want DigitRange) {
		t.Helper()
		got, err := ParseDigitRange(in)
		if err != nil || got != want {
			t.Errorf("ParseDigitRange(%q) = %v, %v; want %v", in, got, err, want)
		}
		if want.Min > 0 {
			if back, _ := ParseDigitRange(got.String()); back != got {
				t.Errorf("String() %q does not read back", got.String())
			}
		}
	}
	f("4-6", DigitRange{4, 6})
	f(" 3 - 8 ", DigitRange{3, 8})
	f("5", DigitRange{5, 5})
	f("0", DigitRange{})
	f("1-15", DigitRange{1, 15})
	for _, bad := range []string{"", "-", "6-4", "0-4", "1-16", "a-b", "4-", "-6", "16"} {
		if r, err := ParseDigitRange(bad); err == nil {
			t.Errorf("ParseDigitRange(%q) = %v, want an error", bad, r)
		}
	}
}

// A national number read in the wrong country is a problem in enforce mode
// and forwarded as sent in rewrite mode (Genesys's site plans then read it),
// never rewritten into the wrong country; kept values never make a request
// fail, in any mode.
func TestDecide_WrongCountryAndKeptValues(t *testing.T) {
	e := Default()
	r := e.Match("POST", "/api/v2/conversations/calls")
	body := []byte(`{"phoneNumber":"020 7946 0958","callerId":"085 012 3456","participants":[{"address":"112"},{"address":"30005"}]}`)
	res := e.Rewrite(r, body, "IE")
	if len(res.Problems) != 1 || res.Problems[0].Reason != ReasonNotValidInCountry || res.Problems[0].Country != "IE" {
		t.Fatalf("problems = %+v, want one not_valid_in_country read in IE", res.Problems)
	}
	if len(res.Kept) != 2 || len(res.Changes) != 1 {
		t.Fatalf("kept %+v, changes %+v: want 2 kept and 1 change", res.Kept, res.Changes)
	}

	if d := Decide(ModeEnforce, body, &res); !d.Reject || d.Outcome != OutcomeRejected {
		t.Errorf("enforce: %+v, want a rejection", d)
	}
	d := Decide(ModeRewrite, body, &res)
	want := `{"phoneNumber":"020 7946 0958","callerId":"+353850123456","participants":[{"address":"112"},{"address":"30005"}]}`
	if d.Reject || string(d.Body) != want || d.Outcome != OutcomeRewritten {
		t.Errorf("rewrite: %+v (body %s), want %s", d, d.Body, want)
	}
	if d := Decide(ModeAudit, body, &res); d.Reject || string(d.Body) != string(body) {
		t.Errorf("audit: %+v, want the body as sent", d)
	}

	kept := []byte(`{"phoneNumber":"911","participants":[{"address":"ForceDisconnect@localhost"},{"address":"tel:30005"}]}`)
	kr := e.Rewrite(r, kept, "US")
	for _, mode := range []Mode{ModeEnforce, ModeRewrite, ModeAudit} {
		d := Decide(mode, kept, &kr)
		if d.Reject || string(d.Body) != string(kept) || d.Outcome != OutcomeUnchanged {
			t.Errorf("%s with kept values only: %+v, want forwarded as sent, unchanged", mode, d)
		}
	}
}

func TestProblemMessage_NamesTheCountryAndItsOrigin(t *testing.T) {
	p := Problem{Path: "phoneNumber", Reason: ReasonNotValidInCountry, Country: "IE"}
	got := p.MessageFrom("the default country of region eu-west-1; set `country` or send `X-Callfix-Country`")
	want := "phoneNumber is not a valid number in IE (read in IE, the default country of region eu-west-1; set `country` or send `X-Callfix-Country`)"
	if got != want {
		t.Errorf("MessageFrom = %q\nwant %q", got, want)
	}
	if got, want := p.Message(), "phoneNumber is not a valid number in IE (read in IE)"; got != want {
		t.Errorf("Message = %q, want %q", got, want)
	}
}

// The default country is a guess: an emergency number of another country
// that cannot be a number of this one (911 read in Ireland, for a US
// organisation on eu-west-1) is forwarded as sent, never blocked.
func TestKeep_EmergencyNumberOfAnotherCountry(t *testing.T) {
	e := Default()
	checkKept(t, e, FormatAddress, "911", "IE", KeepEmergency)
	checkKept(t, e, FormatAddress, "tel:911", "GB", KeepEmergency)
	checkKept(t, e, FormatAddress, "000", "US", KeepEmergency)
	checkKept(t, e, FormatAddress, "999", "US", KeepEmergency)
	// Not an emergency number anywhere: still a problem.
	if got := e.Normalize(FormatAddress, "12", "IE"); got.Keep != keepNone || got.Reason == reasonNone {
		t.Errorf("Normalize(12, IE) = %+v, want a problem", got)
	}
	for _, region := range []string{"US", "GB", "IE", "DE", "AU", "JP", "BR", "IN", "FR", "MX"} {
		if md := shortMaxLen(region); md == 0 {
			t.Errorf("no short-number metadata for %s", region)
		}
	}
	if re, longest := anyEmergency(); re == nil || longest < 3 {
		t.Fatalf("the emergency numbers of all regions do not compile into one expression (longest %d)", longest)
	}
}
