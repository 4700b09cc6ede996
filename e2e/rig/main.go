package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"syscall"

	"github.com/callfix/callfix/e2e"
	"github.com/callfix/callfix/internal/testsupport"
)

func main() { os.Exit(run()) }

func run() int {
	bin := flag.String("callfix", os.Getenv("CALLFIX_BIN"), "path of the callfix binary (default $CALLFIX_BIN)")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: rig -callfix PATH [-- CMD ARGS...]\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if *bin == "" {
		fmt.Fprintln(os.Stderr, "rig: give the callfix binary with -callfix or CALLFIX_BIN (go build -o /tmp/callfix ./cmd/callfix)")
		return 2
	}
	r, err := e2e.Start(*bin)
	if err != nil {
		fmt.Fprintf(os.Stderr, "rig: %v\n", err)
		return 1
	}
	defer r.Close()
	line, _ := json.Marshal(r.Info())
	fmt.Printf("%s\n", line)

	if args := flag.Args(); len(args) > 0 {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
		defer stop()
		err := e2e.RunTests(ctx, "", append(testsupport.CleanEnv(os.Environ()), r.Env()...), os.Stdout, args[0], args[1:]...)
		if err != nil {
			fmt.Fprintf(os.Stderr, "rig: %s: %v\n%s", args[0], err, r.Logs())
			var ee *exec.ExitError
			if errors.As(err, &ee) && ee.ExitCode() > 0 {
				return ee.ExitCode()
			}
			return 1
		}
		return 0
	}

	done := make(chan struct{})
	go func() {
		io.Copy(io.Discard, os.Stdin)
		close(done)
	}()
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	select {
	case <-done:
	case <-stop:
	}
	return 0
}
