package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// reloadModes are the modes of the valid files, in turn.
var reloadModes = []string{"rewrite", "audit", "enforce"}

// badConfigs are files callfix must refuse, each for another reason; %s
// is the upstream URL.
var badConfigs = []string{
	"mode: loud\nupstream:\n  api: %[1]s\n  login: %[1]s\n",
	"mode: [rewrite\nupstream:\n  api: %[1]s\n",
	"mode: audit\nupstream:\n  api: %[1]s\n  login: %[1]s\n  timeout: -1s\n",
	"modes: audit\nupstream:\n  api: %[1]s\n  login: %[1]s\n",
	"mode: audit\nupstream:\n  api: %[1]s\n  login: %[1]s\nserver:\n  shutdown_delay: -1s\n",
	"mode: audit\nmask: hash\nupstream:\n  api: %[1]s\n  login: %[1]s\n",
}

// reloadSteps is how many files are applied, valid and invalid in turn.
const reloadSteps = 16

// reload alternates valid and invalid config files, each saved as
// editors do (a new file renamed over the old) and followed by a SIGHUP,
// under steady load: no request may fail, callfix's reload counters must
// equal the reloads it logged and the SIGHUPs sent, and the last valid
// file's mode must be in force after the bad file that follows it.
func (c *campaign) reload(ctx context.Context) error {
	const name = "reload under load"
	up, err := startUpstream(upstreamOptions{})
	if err != nil {
		return err
	}
	defer up.Close()
	dir, err := os.MkdirTemp("", "callfix-chaos-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "callfix.yaml")
	write := func(body string) error {
		tmp := file + ".tmp"
		if err := os.WriteFile(tmp, []byte(body), 0o600); err != nil {
			return err
		}
		return os.Rename(tmp, file)
	}
	valid := func(mode string) string {
		return fmt.Sprintf("mode: %s\nupstream:\n  api: %[2]s\n  login: %[2]s\naudit:\n  enabled: false\n", mode, up.url)
	}
	if err := write(valid("enforce")); err != nil {
		return err
	}
	// Without a --set for server.shutdown_delay, which would override the
	// bad file that sets it negative.
	p, err := startCallfixDefaultDrain(ctx, c.bin, "", "--config", file)
	if err != nil {
		return err
	}
	defer p.stop()

	l := startLoad(ctx, p.addr, "reload", 6)

	start := time.Now()
	okSteps, badSteps, lastGood := 0, 0, "enforce"
	var stepErr error
	for k := 0; k < reloadSteps && ctx.Err() == nil; k++ {
		body := ""
		if k%2 == 0 {
			lastGood = reloadModes[(k/2)%len(reloadModes)]
			body = valid(lastGood)
			okSteps++
		} else {
			body = fmt.Sprintf(badConfigs[(k/2)%len(badConfigs)], up.url)
			badSteps++
		}
		before := p.reloadLines("success", "sighup") + p.reloadLines("failure", "sighup")
		if err := write(body); err != nil {
			stepErr = err
			break
		}
		p.signal(syscall.SIGHUP)
		deadline := time.Now().Add(5 * time.Second)
		for p.reloadLines("success", "sighup")+p.reloadLines("failure", "sighup") == before && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		// Let the file watcher's own reload of this file come too.
		time.Sleep(300 * time.Millisecond)
	}
	time.Sleep(700 * time.Millisecond) // load on the last state, and quiet for the counters
	failures := l.finish()
	spent := time.Since(start)
	if stepErr != nil {
		return stepErr
	}
	if err := ctx.Err(); err != nil {
		return err
	}

	// The mode in force, from what callfix does: enforce refuses a number
	// it cannot fix; audit forwards a fixable one unchanged.
	mode := "unknown"
	cl := newClient(p.addr, false)
	unfixable := callRequest()
	unfixable.body = []byte(`{"phoneNumber":"1-800-FLOWERS"}`)
	ru, erru := cl.do(unfixable.marked("reload-probe-unfixable", ""))
	_, errf := cl.do(callRequest().marked("reload-probe-fixable", ""))
	switch {
	case erru != nil || errf != nil:
	case ru.status == 400:
		mode = "enforce"
	case strings.Contains(up.arrival("reload-probe-fixable").body, "tel:+13172224567"):
		mode = "rewrite"
	case up.arrival("reload-probe-fixable").n == 1:
		mode = "audit"
	}

	m, err := p.metrics()
	if err != nil {
		return fmt.Errorf("reading /metrics: %v", err)
	}
	r := c.rep
	r.info(name, "requests sent while "+strconv.Itoa(reloadSteps)+" files were applied (valid and invalid in turn, each with a SIGHUP)", l.sent.Load())
	r.info(name, "time", spent)
	r.check(name, "requests that failed", failures.String(), "none", failures.total() == 0)
	gotOK, gotBad := p.reloadLines("success", "sighup"), p.reloadLines("failure", "sighup")
	r.check(name, "SIGHUP reloads applied / refused", fmt.Sprintf("%d / %d", gotOK, gotBad), fmt.Sprintf("%d / %d", okSteps, badSteps), gotOK == okSteps && gotBad == badSteps)
	for _, res := range []string{"success", "failure"} {
		series := `callfix_config_reloads_total{result="` + res + `"}`
		logged := p.reloadLines(res, "")
		v, ok := m[series]
		r.check(name, series, int(v), fmt.Sprintf("= reloads logged (%d: SIGHUP and file watch)", logged), ok && int(v) == logged)
	}
	r.check(name, "mode in force after the last file (invalid)", mode, lastGood+" (the last valid file's)", mode == lastGood)
	return nil
}
