// Command lambdazip packages a Lambda bootstrap binary as a deployment zip:
// one entry named bootstrap, executable, with a fixed modification time so
// that the same binary always gives the same zip (and the same CodeSha256).
//
//	go run ./tools/lambdazip -o dist/ProcessOrderFunction.zip dist/bootstrap
//
// The packing itself is internal/lambdazip's, which orderflow deploy uses too.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/orderflow/orderflow/internal/lambdazip"
)

func main() {
	if err := run(os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "lambdazip:", err)
		os.Exit(1)
	}
}

func run(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("lambdazip", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("o", "function.zip", "the zip file to write")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("give the bootstrap binary to package, e.g. lambdazip -o function.zip dist/bootstrap")
	}
	return pack(fs.Arg(0), *out)
}

func pack(binary, out string) (err error) {
	in, err := os.Open(binary)
	if err != nil {
		return err
	}
	defer in.Close()
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(out)
		}
	}()
	return lambdazip.Write(f, in)
}
