package config_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/callfix/callfix/config"
	"github.com/callfix/callfix/rewrite"
)

// reloadWithin is how long a watched change may take to be applied.
const reloadWithin = 2 * time.Second

// newManager writes body to a config file and starts a Manager on it.
func newManager(t *testing.T, body string) (*config.Manager, string) {
	t.Helper()
	path := writeConfig(t, body)
	m, err := config.NewManager(config.Options{File: path}, nil)
	if err != nil {
		t.Fatalf("NewManager(%s) failed:\n%v", path, err)
	}
	return m, path
}

// replaceFile writes body beside path and renames it over path, as editors
// and config management tools save atomically.
func replaceFile(t *testing.T, path, body string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// startWatch runs Watch until the test ends, and gives the watcher a moment
// to arm: Watch has no ready signal.
func startWatch(t *testing.T, m *config.Manager) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Watch(ctx); close(done) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(reloadWithin):
			t.Errorf("Watch did not return within %v of its context being cancelled", reloadWithin)
		}
	})
	time.Sleep(150 * time.Millisecond)
}

// waitFor polls cond until it holds or reloadWithin has passed.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(reloadWithin)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, reloadWithin)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitForMode waits until the running snapshot has mode.
func waitForMode(t *testing.T, m *config.Manager, mode string) {
	t.Helper()
	waitFor(t, "mode "+mode+" applied", func() bool { return m.Current().Config.Mode == mode })
}

func TestManager_WatchAppliesAValidChange(t *testing.T) {
	f := func(name string, save func(t *testing.T, path, body string)) {
		t.Helper()
		t.Run(name, func(t *testing.T) {
			m, path := newManager(t, "mode: enforce\n")
			first := m.Current()
			startWatch(t, m)
			save(t, path, "mode: audit\n")
			waitForMode(t, m, "audit")
			s := m.Current()
			if s.Mode != rewrite.ModeAudit {
				t.Errorf("Mode = %v, want %v", s.Mode, rewrite.ModeAudit)
			}
			if got := s.Sources["mode"]; got != config.SourceFile {
				t.Errorf("Sources[mode] = %q, want %q", got, config.SourceFile)
			}
			if first.Config.Mode != "enforce" || first.Mode != rewrite.ModeEnforce {
				t.Errorf("the first snapshot changed to mode %q (%v): snapshots must be immutable", first.Config.Mode, first.Mode)
			}
			if st := m.Stats(); st.Failures != 0 || st.Total == 0 {
				t.Errorf("Stats() = %+v, want at least one reload and no failure", st)
			}
		})
	}
	f("write in place", func(t *testing.T, path, body string) {
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	})
	f("rename over", replaceFile)
}

func TestManager_RejectsAnInvalidChangeAndRecovers(t *testing.T) {
	m, path := newManager(t, "mode: enforce\n")
	var oks, fails atomic.Int32
	m.OnReload(func(ok bool) {
		if ok {
			oks.Add(1)
		} else {
			fails.Add(1)
		}
	})
	good := m.Current()
	startWatch(t, m)

	replaceFile(t, path, "mode: audit\nregoin: eu-west-1\n")
	waitFor(t, "Stats().Failures = 1", func() bool { return m.Stats().Failures == 1 })
	if got := m.Current(); got != good {
		t.Errorf("Current() = snapshot with mode %q after an invalid change, want the previous one (mode %q)", got.Config.Mode, good.Config.Mode)
	}
	if got := fails.Load(); got != 1 {
		t.Errorf("OnReload(false) called %d times, want 1", got)
	}
	if got := m.Stats().LastSuccess; !got.Equal(good.LoadedAt) {
		t.Errorf("Stats().LastSuccess = %v after a failure, want the running snapshot's %v", got, good.LoadedAt)
	}

	replaceFile(t, path, "mode: audit\n")
	waitForMode(t, m, "audit")
	st := m.Stats()
	if st.Failures != 1 {
		t.Errorf("Stats().Failures = %d after recovering, want 1", st.Failures)
	}
	if st.Total < 2 {
		t.Errorf("Stats().Total = %d, want at least 2", st.Total)
	}
	if !st.LastSuccess.Equal(m.Current().LoadedAt) {
		t.Errorf("Stats().LastSuccess = %v, want the new snapshot's %v", st.LastSuccess, m.Current().LoadedAt)
	}
	if oks.Load() < 1 {
		t.Errorf("OnReload(true) not called after recovering")
	}
}

// A Kubernetes ConfigMap volume: config.yaml links to ..data/config.yaml,
// ..data links to a timestamped directory, and an update swaps ..data.
func TestManager_WatchFollowsAConfigMapSymlinkSwap(t *testing.T) {
	dir := t.TempDir()
	writeVersion := func(version, body string) {
		if err := os.Mkdir(filepath.Join(dir, version), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, version, "config.yaml"), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writeVersion("..2026_01_01_00_00_00.000000001", "mode: enforce\n")
	if err := os.Symlink("..2026_01_01_00_00_00.000000001", filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "config.yaml")
	if err := os.Symlink(filepath.Join("..data", "config.yaml"), path); err != nil {
		t.Fatal(err)
	}
	m, err := config.NewManager(config.Options{File: path}, nil)
	if err != nil {
		t.Fatalf("NewManager failed:\n%v", err)
	}
	startWatch(t, m)

	// What the kubelet does: write the new version, point ..data_tmp at it,
	// rename it over ..data, remove the old version.
	writeVersion("..2026_01_01_00_01_00.000000002", "mode: audit\n")
	if err := os.Symlink("..2026_01_01_00_01_00.000000002", filepath.Join(dir, "..data_tmp")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(dir, "..2026_01_01_00_00_00.000000001")); err != nil {
		t.Fatal(err)
	}
	waitForMode(t, m, "audit")
	if got := m.Current().File; got != path {
		t.Errorf("File = %q, want the symlink %q", got, path)
	}
}

// The file vanishes for a moment (deleted, then written again): the watch
// re-arms and applies the new file.
func TestManager_WatchRearmsAfterTheFileVanishes(t *testing.T) {
	m, path := newManager(t, "mode: enforce\n")
	startWatch(t, m)
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if err := os.WriteFile(path, []byte("mode: rewrite\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitForMode(t, m, "rewrite")
	// And it keeps watching after re-arming.
	replaceFile(t, path, "mode: audit\n")
	waitForMode(t, m, "audit")
}

func TestManager_WatchSignalsReloadsOnASignal(t *testing.T) {
	m, path := newManager(t, "mode: enforce\n")
	ctx, cancel := context.WithCancel(context.Background())
	sig := make(chan os.Signal, 1)
	done := make(chan struct{})
	go func() { m.WatchSignals(ctx, sig); close(done) }()

	// Not watching the file: nothing happens until the signal.
	replaceFile(t, path, "mode: audit\n")
	time.Sleep(50 * time.Millisecond)
	if got := m.Current().Config.Mode; got != "enforce" {
		t.Fatalf("Mode = %q before any signal, want %q", got, "enforce")
	}
	sig <- syscall.SIGHUP
	waitForMode(t, m, "audit")

	replaceFile(t, path, "mode: rewrite\n")
	sig <- syscall.SIGHUP
	waitForMode(t, m, "rewrite")
	if st := m.Stats(); st.Total != 2 || st.Failures != 0 {
		t.Errorf("Stats() = %+v, want Total 2 and no failure", st)
	}

	cancel()
	select {
	case <-done:
	case <-time.After(reloadWithin):
		t.Fatalf("WatchSignals did not return within %v of its context being cancelled", reloadWithin)
	}
}

// listen (and the other settings that need a restart) keeps its running
// value on reload; the rest of the change applies.
func TestManager_ReloadKeepsRestartOnlySettings(t *testing.T) {
	m, path := newManager(t, "listen: \":18080\"\nadmin_listen: \"127.0.0.1:19090\"\nmode: enforce\nregion: us-east-1\n")
	replaceFile(t, path, "listen: \":18081\"\nadmin_listen: \"127.0.0.1:19091\"\nmode: audit\nregion: eu-west-2\n")
	if err := m.Reload("test"); err != nil {
		t.Fatalf("Reload failed:\n%v", err)
	}
	c := m.Current().Config
	f := func(key, got, want string) {
		t.Helper()
		if got != want {
			t.Errorf("%s = %q after reload, want %q", key, got, want)
		}
	}
	f("listen", c.Listen, ":18080")
	f("admin_listen", c.AdminListen, "127.0.0.1:19090")
	f("mode", c.Mode, "audit")
	f("region", c.Region, "eu-west-2")
	f("country", m.Current().Country, "GB")
	f("upstream.api", m.Current().API.String(), "https://api.euw2.pure.cloud")
}

func TestManager_ApplyHookCanRejectAReload(t *testing.T) {
	m, path := newManager(t, "mode: enforce\n")
	first := m.Current()
	var applied *config.Snapshot
	m.SetApply(func(s *config.Snapshot) error {
		if s.Config.Mode == "rewrite" {
			return errors.New("cannot build upstream clients")
		}
		applied = s
		return nil
	})
	replaceFile(t, path, "mode: rewrite\n")
	if err := m.Reload("test"); err == nil {
		t.Errorf("Reload = nil, want the apply hook's error")
	}
	if m.Current() != first {
		t.Errorf("Current() changed after the apply hook refused the snapshot")
	}
	replaceFile(t, path, "mode: audit\n")
	if err := m.Reload("test"); err != nil {
		t.Fatalf("Reload failed:\n%v", err)
	}
	if m.Current() != applied || applied == nil {
		t.Errorf("Current() is not the snapshot the apply hook was given")
	}
	if st := m.Stats(); st.Total != 2 || st.Failures != 1 {
		t.Errorf("Stats() = %+v, want Total 2, Failures 1", st)
	}
}

// Reloads race with requests: each request takes Current() once and must see
// one whole configuration, under -race.
func TestManager_ReloadsWhileServing(t *testing.T) {
	const usBody = "region: us-east-1\nmode: enforce\n"
	const gbBody = "region: eu-west-2\nmode: audit\n"
	m, path := newManager(t, usBody)

	in := []byte(`{"phoneNumber":"(555) 123-4567","to":{"to":"2ca3b6e8-0000-4000-8000-000000000001"},"callUserId":"x"}`)
	// What each configuration makes of the body, from a snapshot of its own:
	// a national number reads in the snapshot's country.
	type outcome struct {
		body              string
		changes, problems int
		mode              rewrite.Mode
		region            string
	}
	want := map[string]outcome{}
	for _, body := range []string{usBody, gbBody} {
		s := mustSnapshot(t, config.Options{File: writeConfig(t, body)})
		res := s.Engine.Rewrite(s.Engine.Match("POST", "/api/v2/conversations/calls"), in, s.Country)
		want[s.Country] = outcome{string(res.Body), len(res.Changes), len(res.Problems), s.Mode, s.Config.Region}
	}
	if len(want) != 2 || want["US"].body == want["GB"].body {
		t.Fatalf("the two configurations must rewrite differently, got %+v", want)
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var served atomic.Int64
	var failures []string
	var mu sync.Mutex
	fail := func(msg string) {
		mu.Lock()
		if len(failures) < 10 {
			failures = append(failures, msg)
		}
		mu.Unlock()
	}
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				s := m.Current()
				r := s.Engine.Match("POST", "/api/v2/conversations/calls")
				if r == nil {
					fail("no route for POST /api/v2/conversations/calls")
					continue
				}
				res := s.Engine.Rewrite(r, in, s.Country)
				w, ok := want[s.Country]
				got := outcome{string(res.Body), len(res.Changes), len(res.Problems), s.Mode, s.Config.Region}
				if !ok || got != w || s.Region.Name != w.region {
					fail(fmt.Sprintf("country %q: got %+v (region %s), want %+v", s.Country, got, s.Region.Name, w))
				}
				served.Add(1)
			}
		}()
	}

	for i := range 100 {
		body := usBody
		if i%2 == 0 {
			body = gbBody
		}
		replaceFile(t, path, body)
		if err := m.Reload("test"); err != nil {
			t.Errorf("reload %d failed:\n%v", i, err)
		}
	}
	close(stop)
	wg.Wait()

	for _, f := range failures {
		t.Error(f)
	}
	if st := m.Stats(); st.Total != 100 || st.Failures != 0 {
		t.Errorf("Stats() = %+v, want Total 100 and no failure", st)
	}
	if got := m.Current().Config.Region; got != "us-east-1" {
		t.Errorf("Region after the last reload = %q, want %q", got, "us-east-1")
	}
	if served.Load() == 0 {
		t.Errorf("no request was served during the reloads")
	}
}

func TestManager_ContextCancelStopsWatch(t *testing.T) {
	f := func(name string, opts func(t *testing.T) config.Options) {
		t.Helper()
		t.Run(name, func(t *testing.T) {
			m, err := config.NewManager(opts(t), nil)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { m.Watch(ctx); close(done) }()
			time.Sleep(100 * time.Millisecond)
			cancel()
			select {
			case <-done:
			case <-time.After(reloadWithin):
				t.Fatalf("Watch did not return within %v of its context being cancelled", reloadWithin)
			}
		})
	}
	f("watching a file", func(t *testing.T) config.Options { return config.Options{File: writeConfig(t, "mode: audit\n")} })
	f("without a file", func(t *testing.T) config.Options { return config.Options{} })
}

// Without a config file there is nothing to watch: Watch returns at once.
func TestManager_WatchWithoutAFileReturns(t *testing.T) {
	m, err := config.NewManager(config.Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { m.Watch(context.Background()); close(done) }()
	select {
	case <-done:
	case <-time.After(reloadWithin):
		t.Fatalf("Watch without a file did not return")
	}
}

func TestManager_NewManagerReportsEveryProblem(t *testing.T) {
	path := writeConfig(t, "mode: block\nregoin: x\n")
	_, err := config.NewManager(config.Options{File: path}, nil)
	if got := len(problemsOf(t, err)); got != 2 {
		t.Errorf("NewManager: %d problems, want 2:\n%v", got, err)
	}
}

// A change made after the configuration was loaded but before the watch
// is armed is not missed: the watch reads a file newer than the snapshot.
func TestManager_WatchAppliesAChangeMadeBeforeItStarted(t *testing.T) {
	m, path := newManager(t, "mode: enforce\n")
	if err := os.WriteFile(path, []byte("mode: audit\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	later := m.Current().LoadedAt.Add(time.Second)
	if err := os.Chtimes(path, later, later); err != nil {
		t.Fatal(err)
	}
	startWatch(t, m)
	waitForMode(t, m, "audit")

	// A file no newer than the snapshot is not read again.
	m2, path2 := newManager(t, "mode: enforce\n")
	earlier := m2.Current().LoadedAt.Add(-time.Minute)
	if err := os.Chtimes(path2, earlier, earlier); err != nil {
		t.Fatal(err)
	}
	startWatch(t, m2)
	time.Sleep(300 * time.Millisecond)
	if st := m2.Stats(); st.Total != 0 {
		t.Errorf("Stats() = %+v: an unchanged file was reloaded when the watch started", st)
	}
}
