package proxy_test

import (
	"strings"
	"testing"
)

// A London number sent nationally to a callfix of region eu-west-1 (whose
// default country is IE) is possible in Ireland but not valid there: with
// validation valid, enforce mode answers 400 naming the country and where
// it came from, and forwards nothing; it is never moved into Ireland.
func TestIntercept_NotValidInCountry_Enforce_400NamesTheCountryAndItsOrigin(t *testing.T) {
	const london = `{"phoneNumber":"020 7946 0958"}`
	f := func(name string, flags map[string]string, header, wantOrigin string) {
		t.Helper()
		flags["validation"] = "valid"
		r := startRig(t, rigOptions{flags: flags})
		h := []string{jsonCT}
		if header != "" {
			h = append(h, header)
		}
		resp := r.do(request("POST", callsPath, []byte(london), h...))
		b := wantAPIError(t, name, resp, 400, "callfix.invalid.address")
		if len(b.Details) != 1 || b.Details[0].ErrorCode != "callfix.invalid.address.not_valid_in_country" || b.Details[0].FieldName != "phoneNumber" {
			t.Errorf("%s: details = %+v, want one not_valid_in_country for phoneNumber", name, b.Details)
		}
		want := "is not a valid number in IE (read in IE, " + wantOrigin + ")"
		if !strings.Contains(b.Message, want) || !strings.Contains(b.MessageParams["problems"], want) {
			t.Errorf("%s: message = %q, want it to hold %q", name, b.Message, want)
		}
		if strings.Contains(string(resp.Body), "79460958") {
			t.Errorf("%s: the 400 holds the number unmasked: %s", name, resp.Body)
		}
		none(t, "api", r.api)
		r.stop()
	}
	f("region", map[string]string{"region": "eu-west-1"}, "",
		"the default country of region eu-west-1; set `country` or send `X-Callfix-Country`")
	f("header", map[string]string{"region": "us-east-1"}, "X-Callfix-Country: ie", "sent in X-Callfix-Country")
	f("country", map[string]string{"region": "us-east-1", "country": "IE"}, "", "set by country (from --country)")
}

// The same number with the right country is repaired: the header wins over
// the region's country.
func TestIntercept_NotValidInCountry_RightCountryRepairs(t *testing.T) {
	r := startRig(t, rigOptions{flags: map[string]string{"region": "eu-west-1", "validation": "valid"}})
	resp := r.do(request("POST", callsPath, []byte(`{"phoneNumber":"020 7946 0958"}`), jsonCT, "X-Callfix-Country: GB"))
	if resp.Status != 200 {
		t.Fatalf("status = %d, want 200: %s", resp.Status, resp.Body)
	}
	wantForwarded(t, r, `{"phoneNumber":"tel:+442079460958"}`)
}

// In rewrite mode the number is forwarded as sent (Genesys's site number
// plans then read it), never rewritten into the wrong country, while the
// other fields are repaired.
func TestIntercept_NotValidInCountry_RewriteMode_ForwardedAsSent(t *testing.T) {
	obs := &recorder{}
	r := startRig(t, rigOptions{observer: obs, flags: map[string]string{"region": "eu-west-1", "validation": "valid", "mode": "rewrite"}})
	resp := r.do(request("POST", callsPath, []byte(`{"phoneNumber":"020 7946 0958","callerId":"+44 20 7946 0958"}`), jsonCT))
	if resp.Status != 200 {
		t.Fatalf("status = %d, want 200: %s", resp.Status, resp.Body)
	}
	wantForwarded(t, r, `{"phoneNumber":"020 7946 0958","callerId":"+442079460958"}`)
	recs := obs.records()
	if len(recs) != 1 || len(recs[0].Problems) != 1 || recs[0].Problems[0].Reason.Code() != "not_valid_in_country" || recs[0].Country != "IE" {
		t.Fatalf("records = %+v, want one with a not_valid_in_country problem read in IE", recs)
	}
	if want := "the default country of region eu-west-1; set `country` or send `X-Callfix-Country`"; recs[0].CountryOrigin != want {
		t.Errorf("record CountryOrigin = %q, want %q (the audit message says it)", recs[0].CountryOrigin, want)
	}
}
