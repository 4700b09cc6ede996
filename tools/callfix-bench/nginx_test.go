package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func readTemplate(t *testing.T) string {
	t.Helper()
	root, err := findRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, "tools", "callfix-bench", "assets", "nginx.conf.tmpl"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// directives returns the configuration without comments, one directive
// per line, spaces collapsed.
func directives(conf string) []string {
	var out []string
	for _, line := range strings.Split(conf, "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		line = strings.Join(strings.Fields(line), " ")
		if line != "" {
			out = append(out, line)
		}
	}
	return out
}

func TestRenderNginxConf(t *testing.T) {
	dir := "/tmp/callfix-bench-nginx-test"
	conf, err := renderNginxConf(readTemplate(t), nginxConf{Dir: dir, Workers: 3, Listen: "127.0.0.1:18080", Upstream: "127.0.0.1:19090", FastCGI: true})
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(directives(string(conf)), "\n")
	for _, want := range []string{
		"worker_processes 3;",
		"pid " + dir + "/nginx.pid;",
		"error_log " + dir + "/error.log warn;",
		"access_log off;",
		"client_body_temp_path " + dir + "/client_body_temp;",
		"proxy_temp_path " + dir + "/proxy_temp;",
		"fastcgi_temp_path " + dir + "/fastcgi_temp;",
		"upstream genesys {\nserver 127.0.0.1:19090;\nkeepalive 256;",
		"listen 127.0.0.1:18080;",
		"client_max_body_size 0;",
		"proxy_pass http://genesys;",
		"proxy_http_version 1.1;",
		`proxy_set_header Connection "";`,
		"proxy_buffering on;",
		"proxy_request_buffering off;",
		"keepalive_requests 1000000;",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("the rendered config lacks %q:\n%s", want, got)
		}
	}
	for _, absent := range []string{"daemon", "uwsgi_temp_path", "scgi_temp_path", "{{", "<no value>"} {
		if strings.Contains(got, absent) {
			t.Errorf("the rendered config holds %q (daemon comes from -g; modules off are left out):\n%s", absent, got)
		}
	}
	// Loopback only: every address in it.
	for _, m := range regexp.MustCompile(`(?m)^(listen|server) (\S+);`).FindAllStringSubmatch(got, -1) {
		if !strings.HasPrefix(m[2], "127.0.0.1:") {
			t.Errorf("%s %s is not loopback", m[1], m[2])
		}
	}
}

func TestRenderNginxConf_BadTemplate(t *testing.T) {
	if _, err := renderNginxConf("worker_processes {{.Nope}};", nginxConf{}); err == nil {
		t.Error("a template naming an unknown field rendered")
	}
	if _, err := renderNginxConf("worker_processes {{.Workers;", nginxConf{}); err == nil {
		t.Error("a malformed template rendered")
	}
}

// When nginx is installed, it accepts the rendered file as it will be run
// (nginx -t with the same -p, -c, -e and -g).
func TestRenderNginxConf_NginxAcceptsIt(t *testing.T) {
	bin, err := exec.LookPath("nginx")
	if err != nil {
		t.Skip("nginx is not on PATH")
	}
	dir := t.TempDir()
	_, fcgi, uwsgi, scgi := nginxModules(context.Background(), bin)
	conf, err := renderNginxConf(readTemplate(t), nginxConf{Dir: dir, Workers: 2, Listen: "127.0.0.1:1", Upstream: "127.0.0.1:2", FastCGI: fcgi, UWSGI: uwsgi, SCGI: scgi})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, conf, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "-t", "-p", dir, "-c", path, "-e", filepath.Join(dir, "error.log"), "-g", "daemon off;").CombinedOutput()
	if err != nil {
		t.Fatalf("nginx -t: %v\n%s\n%s", err, out, conf)
	}
}
