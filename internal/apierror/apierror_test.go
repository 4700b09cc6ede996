package apierror

import (
	"encoding/json"
	"reflect"
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
