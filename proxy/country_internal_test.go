package proxy

import (
	"bytes"
	"testing"
	"time"
)

// The cache keeps at most maxEntries tokens, least recently used out, each
// for less than maxAge; a failed lookup is not cached; waiters get the
// leader's answer.
func TestCountryCache_BoundsAndFlights(t *testing.T) {
	c := newCountryCache()
	now := time.Unix(1_000_000, 0)
	c.now = func() time.Time { return now }
	learn := func(tok, country string, maxEntries int) {
		t.Helper()
		k := c.hash([]byte("Bearer " + tok))
		_, f, lead := c.claim(k, time.Hour)
		if !lead {
			t.Fatalf("%s: not asked to look up", tok)
		}
		c.finish(k, f, country, maxEntries)
	}
	cached := func(tok string, maxAge time.Duration) (string, bool) {
		k := c.hash([]byte("Bearer " + tok))
		cc, f, lead := c.claim(k, maxAge)
		if lead {
			c.finish(k, f, "", 100) // give the flight back
		}
		return cc, f == nil
	}

	learn("a", "GB", 2)
	learn("b", "DE", 2)
	if cc, ok := cached("a", time.Hour); !ok || cc != "GB" {
		t.Errorf("a = %q, %v, want GB cached", cc, ok)
	}
	learn("c", "FR", 2) // b is the least recently used now
	if _, ok := cached("b", time.Hour); ok {
		t.Errorf("b is still cached after a third token with max_entries 2")
	}
	if c.len() != 2 {
		t.Errorf("len = %d, want 2", c.len())
	}
	// maxAge: cached just below it, gone at it.
	now = now.Add(time.Hour - time.Nanosecond)
	if _, ok := cached("a", time.Hour); !ok {
		t.Errorf("a expired just before max_age")
	}
	now = now.Add(time.Nanosecond)
	if _, ok := cached("a", time.Hour); ok {
		t.Errorf("a is cached at max_age")
	}

	// A failed lookup is given to its waiters and not cached.
	k := c.hash([]byte("Bearer d"))
	_, f, lead := c.claim(k, time.Hour)
	_, f2, lead2 := c.claim(k, time.Hour)
	if !lead || lead2 || f2 != f {
		t.Fatalf("a second claim during a flight: lead %v, same flight %v, want it to wait for the first", lead2, f2 == f)
	}
	c.finish(k, f, "", 2)
	<-f2.done
	if f2.country != "" {
		t.Errorf("waiter got %q after a failure, want \"\"", f2.country)
	}
	if _, ok := cached("d", time.Hour); ok {
		t.Errorf("a failed lookup was cached")
	}
}

// The key is an HMAC under a per-process key: not the token, and not the
// same in two processes (two caches).
func TestCountryCache_KeyIsNotTheToken(t *testing.T) {
	a, b := newCountryCache(), newCountryCache()
	tok := []byte("Bearer tok-SECRET")
	ka, kb := a.hash(tok), b.hash(tok)
	if ka == kb {
		t.Errorf("two caches hash the token alike: the key is not random")
	}
	if bytes.Contains(ka[:], []byte("tok-SECRET")) || ka != a.hash(tok) {
		t.Errorf("hash %x holds the token or is not stable", ka)
	}
}

func TestBearerHeader(t *testing.T) {
	f := func(in string, want bool) {
		t.Helper()
		if got := bearerHeader([]byte(in)); (got != nil) != want || got != nil && string(got) != in {
			t.Errorf("bearerHeader(%q) = %q, want the header: %v", in, got, want)
		}
	}
	f("Bearer abc", true)
	f("bearer abc", true)
	f("BEARER abc.def", true)
	f("Bearer ", false)
	f("Bearer    ", false)
	f("Basic dXNlcjpwYXNz", false)
	f("", false)
	f("Bearerabc", false)
}
