package config_test

import (
	"net/url"
	"testing"

	"github.com/callfix/callfix/config"
)

// IsLoopback at its edges: the one loopback check of the repository (plain
// http upstreams here, the deploy files' listen addresses in deploy/).
func TestIsLoopback_Edges(t *testing.T) {
	for host, want := range map[string]bool{
		"localhost": true, "LocalHost": true, "127.0.0.1": true, "127.0.0.0": true, "127.255.255.255": true,
		"127.1.2.3": true, "::1": true, "0:0:0:0:0:0:0:1": true, "::ffff:127.0.0.1": true,
		"0.0.0.0": false, "::": false, "128.0.0.1": false, "126.255.255.255": false, "::2": false,
		"10.0.0.1": false, "192.168.1.1": false, "": false,
		// Names that only look like loopback are names: nothing is resolved.
		"localhost.": false, "localhost.example.com": false, "my-localhost": false, "127.0.0.1.nip.io": false,
		"127.1": false, "0x7f.0.0.1": false, "0177.0.0.1": false, "127.0.0.01": false,
		// A host, not an address: a port or brackets are the caller's to strip.
		"[::1]": false, "[::1]:8080": false, "127.0.0.1:8080": false, "localhost:8080": false,
	} {
		if got := config.IsLoopback(host); got != want {
			t.Errorf("IsLoopback(%q) = %v, want %v", host, got, want)
		}
	}
	for raw, want := range map[string]bool{
		"http://[::1]:8080": true, "http://127.0.0.1:9000": true, "http://localhost": true,
		"http://0.0.0.0:8080": false, "http://[::]:8080": false, "http://localhost.evil.example:80": false,
	} {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		if got := config.IsLoopback(u.Hostname()); got != want {
			t.Errorf("IsLoopback(Hostname of %q) = %v, want %v", raw, got, want)
		}
	}
}
