// Command lambdazip packages a Lambda bootstrap binary as a deployment zip:
// one entry named bootstrap, executable, with a fixed modification time so
// that the same binary always gives the same zip (and the same CodeSha256).
//
//	go run ./tools/lambdazip -o dist/ProcessOrderFunction.zip dist/bootstrap
//
// It is written in Go so that packaging needs nothing beyond the Go toolchain
// (no zip program on the machine).
package main

import (
	"archive/zip"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"
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

// epoch is the modification time of every entry: zip cannot store earlier
// than 1980, and a fixed time keeps the output reproducible.
var epoch = time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)

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
	zw := zip.NewWriter(f)
	hdr := &zip.FileHeader{Name: "bootstrap", Method: zip.Deflate, Modified: epoch}
	hdr.SetMode(0o755)
	w, err := zw.CreateHeader(hdr)
	if err != nil {
		return err
	}
	if _, err := io.Copy(w, in); err != nil {
		return fmt.Errorf("write %s: %w", out, err)
	}
	return zw.Close()
}
