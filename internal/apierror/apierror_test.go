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
	b := InvalidAddressFrom(probs, "", -1, func(string) string { return "MASKED" }, "ctx")
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

// The login host's error body: exactly error, description and
// error_description, the message in both descriptions, unescaped.
func TestOAuth_JSON_HasTheLoginHostsFields(t *testing.T) {
	var m map[string]any
	js := NewOAuth(504, "the Genesys Cloud login host did not answer in time <&>").JSON()
	if err := json.Unmarshal(js, &m); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	if got, want := sortStrings(keys), []string{"description", "error", "error_description"}; !reflect.DeepEqual(got, want) {
		t.Errorf("keys = %v, want %v", got, want)
	}
	if m["error"] != "temporarily_unavailable" || m["description"] != "the Genesys Cloud login host did not answer in time <&>" || m["error_description"] != m["description"] {
		t.Errorf("body = %s", js)
	}
	if strings.Contains(string(js), `\u003c`) {
		t.Errorf("body is HTML-escaped: %s", js)
	}
}

func TestOAuthCode_ByStatus(t *testing.T) {
	f := func(status int, want string) {
		t.Helper()
		if got := OAuthCode(status); got != want {
			t.Errorf("OAuthCode(%d) = %q, want %q", status, got, want)
		}
	}
	f(400, "invalid_request")
	f(408, "invalid_request")
	f(413, "invalid_request")
	f(431, "invalid_request")
	f(500, "server_error")
	f(502, "temporarily_unavailable")
	f(503, "temporarily_unavailable")
	f(504, "temporarily_unavailable")
}

// A number not valid in its country says where the country came from; the
// other reasons read as before.
func TestInvalidAddressFrom_NamesTheCountrysOrigin(t *testing.T) {
	probs := []rewrite.Problem{
		{Path: "phoneNumber", Value: "020 7946 0958", Reason: rewrite.ReasonNotValidInCountry, Country: "IE"},
		{Path: "callerId", Value: "5551234", Reason: rewrite.ReasonLocalOnly, Country: "IE"},
	}
	origin := "the default country of region eu-west-1; set `country` or send `X-Callfix-Country`"
	b := InvalidAddressFrom(probs, origin, 20, func(string) string { return "" }, "ctx")
	want := "callfix cannot repair 2 addresses: phoneNumber is not a valid number in IE (read in IE, " + origin + "); callerId is a local number without its area code (read as a number of IE)"
	if b.Message != want {
		t.Errorf("message = %q\nwant      %q", b.Message, want)
	}
	if b.Details[0].ErrorCode != "callfix.invalid.address.not_valid_in_country" {
		t.Errorf("details = %+v", b.Details)
	}
	if b.MessageParams["problems"] != strings.TrimPrefix(want, "callfix cannot repair 2 addresses: ") {
		t.Errorf("messageParams = %v", b.MessageParams)
	}
	if old := InvalidAddressFrom(probs[:1], "", -1, func(string) string { return "" }, "ctx"); old.Message != "callfix cannot repair 1 address: phoneNumber is not a valid number in IE (read in IE)" {
		t.Errorf("message without an origin = %q", old.Message)
	}
}

// At most max problems are listed, in details and in the message, which
// then counts the rest; the count is the total.
func TestInvalidAddressFrom_ListsAtMostMax(t *testing.T) {
	f := func(n, max, wantListed int, wantMore string) {
		t.Helper()
		probs := make([]rewrite.Problem, n)
		for i := range probs {
			probs[i] = rewrite.Problem{Path: "participants[" + strconv.Itoa(i) + "].address", Value: "a", Reason: rewrite.ReasonCharacters}
		}
		b := InvalidAddressFrom(probs, "", max, func(string) string { return "" }, "ctx")
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
	f(25, 20, 20, "and 5 more") // limits.max_details's default
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
