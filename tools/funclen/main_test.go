package main

import (
	"os"
	"path/filepath"
	"testing"
)

func TestLongest_CountsDeclarationsAndLeavesOutTestsAndTools(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a/a.go", "package a\n\nfunc short() {}\n\ntype T struct{}\n\nfunc (t *T) long() {\n\t_ = 1\n\t_ = 2\n}\n")
	write("a/a_test.go", "package a\n\nfunc longer() {\n\n\n\n\n}\n")
	write("tools/x/x.go", "package x\n\nfunc longest() {\n\n\n\n\n\n\n}\n")
	fns, err := longest(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(fns) != 2 {
		t.Fatalf("got %d functions %v, want the 2 of a/a.go", len(fns), fns)
	}
	if fns[0].name != "(T).long" || fns[0].lines != 4 || fns[0].pos != filepath.Join("a", "a.go")+":7" {
		t.Errorf("longest = %+v, want (T).long, 4 lines, at a/a.go:7", fns[0])
	}
	if fns[1].name != "short" || fns[1].lines != 1 {
		t.Errorf("second = %+v, want short, 1 line", fns[1])
	}
}
