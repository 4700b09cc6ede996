package main

import (
	"io"
	"strings"
	"testing"
)

// -require-peers (make bench) refuses to run without every peer, naming
// the missing ones; a peer turned off counts as missing.
func TestParseFlags_RequirePeers(t *testing.T) {
	_, err := parseFlags([]string{"-require-peers", "-nginx", "off", "-caddy", "off", "-out-json", ""}, io.Discard)
	if err == nil {
		t.Fatal("-require-peers with nginx and caddy off: accepted")
	}
	for _, want := range []string{"nginx", "nginx-lua", "caddy", "make bench-deps"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
	o, err := parseFlags([]string{"-nginx", "off", "-haproxy", "off", "-caddy", "off", "-out-json", ""}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(peerKinds(o)) != 0 || o.NginxLua {
		t.Errorf("every peer off: %d peers, nginx-lua %v", len(peerKinds(o)), o.NginxLua)
	}
}

func TestParseFlags_Variants(t *testing.T) {
	o, err := parseFlags([]string{"-variant", "noaudit:audit.enabled=false", "-variant", "gogc:env:GOGC=400", "-out-json", ""}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(o.Variants) != 2 || o.Variants[0].Name != "noaudit" || o.Variants[1].Env[0] != "GOGC=400" {
		t.Errorf("variants %+v", o.Variants)
	}
	if _, err := parseFlags([]string{"-variant", "a:x=1", "-variant", "a:y=2"}, io.Discard); err == nil {
		t.Error("two variants of one name accepted")
	}
}
