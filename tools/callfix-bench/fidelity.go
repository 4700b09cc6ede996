package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"time"
)

// probeHeader marks the fidelity probe: the upstream keeps the last call
// body that arrives with it.
const probeHeader = "X-Bench-Probe"

// probeBody is a CreateCallRequest with the four things a decode and
// re-encode loses: fields in an order that is not alphabetical, a "/" in
// a string, an empty array, and an integer a double cannot hold (2^53+1).
// The two numbers are 555-01XX numbers, reserved for fiction.
const probeBody = `{"phoneNumber":"(317) 555-0100","callerId":"(317) 555-0101","callerIdName":"Front desk",` +
	`"callFromQueueId":"7d3cd1a5-2f0e-4c8b-9b3f-0b1c5a8e9d21","routingSkillsIds":[],` +
	`"uuiData":"https://crm.example/tickets/42","priority":9007199254740993,"label":"bench probe"}`

// probeWant is what the upstream should receive: the probe with the two
// numbers in E.164 (phoneNumber with tel:, as callfix writes an address)
// and every other byte as sent.
var probeWant = strings.NewReplacer(`"(317) 555-0100"`, `"tel:+13175550100"`, `"(317) 555-0101"`, `"+13175550101"`).Replace(probeBody)

// fidelity is what one rewriting target forwarded for the probe.
type fidelity struct {
	Target string `json:"target"`
	// Exact: the upstream received probeWant byte for byte.
	Exact bool `json:"exact"`
	// Losses says in words how the received body differs from probeWant.
	Losses []string `json:"losses"`
	// Received is the body as the upstream received it, the two numbers
	// masked.
	Received string `json:"received"`
}

// maskProbe hides the middle digits of the probe's two numbers, so that
// no whole phone number reaches a report.
var maskProbe = strings.NewReplacer("3175550100", "317*****00", "3175550101", "317*****01", "555-0100", "***-**00", "555-0101", "***-**01")

// checkFidelity sends the probe through the target and reads what the
// upstream received.
func checkFidelity(ctx context.Context, up *upstream, t *target) fidelity {
	f := fidelity{Target: t.Name}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	up.probeMu.Lock()
	up.probe = nil
	up.probeMu.Unlock()
	req, _ := http.NewRequestWithContext(ctx, "POST", t.URL+"/api/v2/conversations/calls", strings.NewReader(probeBody))
	req.Header.Set("Authorization", "Bearer bench.token.value")
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(probeHeader, "1")
	resp, err := readyClient.Do(req)
	if err != nil {
		f.Losses = []string{"the probe failed: " + err.Error()}
		return f
	}
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	got := up.lastProbe()
	if got == nil {
		f.Losses = []string{fmt.Sprintf("the probe did not reach the upstream (answer %d: %s)", resp.StatusCode, maskProbe.Replace(string(answer)))}
		return f
	}
	f.Received = maskProbe.Replace(string(got))
	f.Losses = fidelityLosses([]byte(probeBody), []byte(probeWant), got)
	f.Exact = len(f.Losses) == 0
	return f
}

// fidelityLosses describes how got differs from want, two JSON objects
// (sent is what was sent, want what should have arrived): key order, "/"
// escaped, [] turned into {}, numbers changed, values not rewritten, keys
// dropped or values changed. It returns nil when they are the same bytes.
func fidelityLosses(sent, want, got []byte) []string {
	if bytes.Equal(want, got) {
		return nil
	}
	var losses []string
	_, sentVals, _ := decodeObject(sent)
	wantKeys, wantVals, err := decodeObject(want)
	if err != nil {
		return []string{"the expected body does not decode: " + err.Error()}
	}
	gotKeys, gotVals, err := decodeObject(got)
	if err != nil {
		return []string{"the body received is not a JSON object: " + err.Error()}
	}
	// Order: of the keys both have (a dropped or added key is told below).
	var wantCommon, gotCommon []string
	for _, k := range wantKeys {
		if _, ok := gotVals[k]; ok {
			wantCommon = append(wantCommon, k)
		}
	}
	for _, k := range gotKeys {
		if _, ok := wantVals[k]; ok {
			gotCommon = append(gotCommon, k)
		}
	}
	if !reflect.DeepEqual(wantCommon, gotCommon) {
		losses = append(losses, fmt.Sprintf("key order lost: sent %s, received %s", strings.Join(wantKeys, ","), strings.Join(gotKeys, ",")))
	}
	if bytes.Contains(got, []byte(`\/`)) && !bytes.Contains(want, []byte(`\/`)) {
		losses = append(losses, `"/" escaped as "\/"`)
	}
	for _, k := range wantKeys {
		w, g := wantVals[k], gotVals[k]
		_, present := gotVals[k]
		wa, wIsArr := w.([]any)
		_, gIsObj := g.(map[string]any)
		wn, wIsNum := w.(json.Number)
		gn, gIsNum := g.(json.Number)
		switch {
		case !present:
			losses = append(losses, fmt.Sprintf("%s dropped", k))
		case wIsArr && len(wa) == 0 && gIsObj:
			losses = append(losses, fmt.Sprintf("%s: [] became {}", k))
		case wIsNum && gIsNum && wn != gn:
			losses = append(losses, fmt.Sprintf("%s: %s became %s", k, wn, gn))
		case !reflect.DeepEqual(w, sentVals[k]) && reflect.DeepEqual(g, sentVals[k]):
			losses = append(losses, fmt.Sprintf("%s not rewritten", k))
		case !reflect.DeepEqual(w, g):
			losses = append(losses, fmt.Sprintf("%s: value changed", k))
		}
	}
	for _, k := range gotKeys {
		if _, ok := wantVals[k]; !ok {
			losses = append(losses, fmt.Sprintf("%s added", k))
		}
	}
	if len(losses) == 0 {
		losses = append(losses, "same values, other bytes (spacing or escaping)")
	}
	return losses
}

// decodeObject decodes a JSON object's top level: its keys in order and
// its values, numbers as written.
func decodeObject(b []byte) ([]string, map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, nil, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, nil, fmt.Errorf("not an object")
	}
	var keys []string
	vals := map[string]any{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, err
		}
		k, _ := tok.(string)
		var v any
		if err := dec.Decode(&v); err != nil {
			return nil, nil, err
		}
		keys = append(keys, k)
		vals[k] = v
	}
	return keys, vals, nil
}
