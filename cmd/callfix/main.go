// Command callfix is a reverse proxy for the Genesys Cloud Platform API
// that repairs the addresses in outbound call requests. All behaviour lives
// in internal/cli and the packages it wires; main only hands over the
// process's arguments and streams.
package main

import (
	"os"

	"github.com/callfix/callfix/internal/cli"
)

func main() {
	os.Exit(cli.Run(os.Args[1:], cli.Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Environ: os.Environ()}))
}
