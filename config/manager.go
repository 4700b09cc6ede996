package config

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/knadh/koanf/providers/file"
)

// Manager holds the running Snapshot and replaces it on reload. A reload
// loads, validates and builds a complete new Snapshot, hands it to the
// apply hook the wiring set (internal/cli: the proxy's Apply, which builds
// its upstream clients), and swaps it in atomically only when that
// succeeded; a configuration that fails never replaces a good one.
// Requests that loaded the old Snapshot finish on it.
type Manager struct {
	opts Options
	log  *slog.Logger
	cur  atomic.Pointer[Snapshot]
	mu   sync.Mutex // one reload at a time

	// apply, when set, is called with each new Snapshot before it is
	// swapped in; an error rejects the reload.
	apply func(*Snapshot) error

	total, failures atomic.Uint64
	lastSuccess     atomic.Int64
	onReload        atomic.Pointer[func(ok bool)]
}

// ReloadStats counts reloads since start.
type ReloadStats struct {
	// Total counts reload attempts; Failures those rejected.
	Total, Failures uint64
	// LastSuccess is when the running Snapshot was loaded.
	LastSuccess time.Time
}

// NewManager loads the first Snapshot. Its error lists every problem.
func NewManager(opts Options, log *slog.Logger) (*Manager, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s, err := LoadSnapshot(opts)
	if err != nil {
		return nil, err
	}
	m := &Manager{opts: opts, log: log}
	m.cur.Store(s)
	m.lastSuccess.Store(s.LoadedAt.UnixNano())
	return m, nil
}

// Current returns the running Snapshot. Callers keep the pointer for the
// whole of a request, so that one request sees one configuration.
func (m *Manager) Current() *Snapshot { return m.cur.Load() }

// SetApply sets the hook that is given each new Snapshot before it is
// swapped in, to build what depends on it (the wiring passes the proxy's
// Apply); an error rejects the reload and the running Snapshot stays. It
// is called for later reloads only, one at a time.
func (m *Manager) SetApply(f func(*Snapshot) error) { m.mu.Lock(); m.apply = f; m.mu.Unlock() }

// OnReload sets a function called after every reload attempt, for metrics.
func (m *Manager) OnReload(f func(ok bool)) { m.onReload.Store(&f) }

// Stats returns the reload counters.
func (m *Manager) Stats() ReloadStats {
	return ReloadStats{Total: m.total.Load(), Failures: m.failures.Load(), LastSuccess: time.Unix(0, m.lastSuccess.Load())}
}

// Reload loads the configuration again from the same layers and swaps it
// in when it is valid. trigger says why, for the log (file, sighup).
func (m *Manager) Reload(trigger string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	err := m.reload(trigger)
	if err != nil {
		var probs Problems
		if errors.As(err, &probs) {
			m.log.Error("config reload rejected; still serving the previous configuration", "trigger", trigger, "problems", probs.Strings())
		} else {
			m.log.Error("config reload rejected; still serving the previous configuration", "trigger", trigger, "error", err.Error())
		}
	}
	if f := m.onReload.Load(); f != nil {
		(*f)(err == nil)
	}
	// The counters move last: whoever sees them move sees the hook's
	// effect (the reload metrics) too.
	if err != nil {
		m.failures.Add(1)
	}
	m.total.Add(1)
	return err
}

func (m *Manager) reload(trigger string) error {
	s, err := LoadSnapshot(m.opts)
	if err != nil {
		return err
	}
	old := m.cur.Load()
	var changed []string
	for i := range keyList {
		k := &keyList[i]
		ov, nv := k.field(&old.Config), k.field(&s.Config)
		if reflect.DeepEqual(ov.Interface(), nv.Interface()) {
			continue
		}
		if !k.Reloadable {
			m.log.Warn("setting changed but is not reloadable: restart callfix to apply it; keeping the running value",
				"key", k.Name, "running", renderValue(ov, k.Secret), "configured", renderValue(nv, k.Secret))
			nv.Set(ov)
			continue
		}
		changed = append(changed, k.Name)
	}
	if m.apply != nil {
		if err := m.apply(s); err != nil {
			return err
		}
	}
	m.cur.Store(s)
	m.lastSuccess.Store(s.LoadedAt.UnixNano())
	m.log.Info("config reloaded", "trigger", trigger, "changed", changed)
	return nil
}

// Watch reloads when the config file changes, until ctx is done. It uses
// koanf's file watcher, which follows the symlink swaps of a Kubernetes
// ConfigMap; when the watch breaks (the file vanished for a moment during
// an editor's or kubelet's swap) it is re-armed. Bursts of events within
// 100ms cause one reload. Without a file it returns at once.
func (m *Manager) Watch(ctx context.Context) {
	path := m.Current().File
	if path == "" {
		return
	}
	events := make(chan struct{}, 1)
	first := true
	for ctx.Err() == nil {
		broken := make(chan struct{})
		var once sync.Once
		fp := file.Provider(path)
		err := fp.Watch(func(_ any, err error) {
			if err != nil {
				once.Do(func() { close(broken) })
				return
			}
			select {
			case events <- struct{}{}:
			default:
			}
		})
		if err != nil {
			m.log.Warn("cannot watch the config file; retrying (SIGHUP reloads meanwhile)", "file", path, "error", err.Error())
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
				continue
			}
		}
		if first {
			first = false
			// A change between the load and the watch would be missed:
			// the file written after the snapshot was built is read now.
			if st, err := os.Stat(path); err == nil && st.ModTime().After(m.Current().LoadedAt) {
				select {
				case events <- struct{}{}:
				default:
				}
			}
		}
		m.debounce(ctx, events, broken)
		fp.Unwatch()
		if ctx.Err() == nil {
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
				// The file may have been replaced: reload once re-armed.
				select {
				case events <- struct{}{}:
				default:
				}
			}
		}
	}
}

func (m *Manager) debounce(ctx context.Context, events <-chan struct{}, broken <-chan struct{}) {
	var timer *time.Timer
	var fire <-chan time.Time
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case <-broken:
			return
		case <-events:
			if timer == nil {
				timer = time.NewTimer(100 * time.Millisecond)
			} else {
				timer.Reset(100 * time.Millisecond)
			}
			fire = timer.C
		case <-fire:
			fire = nil
			m.Reload("file")
		}
	}
}

// WatchSignals reloads on every signal received on sig (SIGHUP) until ctx
// is done.
func (m *Manager) WatchSignals(ctx context.Context, sig <-chan os.Signal) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-sig:
			m.Reload("sighup")
		}
	}
}
