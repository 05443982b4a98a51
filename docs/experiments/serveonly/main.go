// Command serveonly is an experiment for docs/benchmarks.md ("Start-up:
// what a serving binary of its own would give"), not a product: the
// embedded cloud with the pipeline deployed, as orderflow up runs it in
// memory, in a binary that links none of the CLI's own AWS clients
// (CloudFormation, Lambda, STS, the SDK's config with SSO and sign-in).
// It measures what the CLI's package inits and pages cost a start of up.
//
//	go build -o /tmp/serveonly ./docs/experiments/serveonly
//	go test -run '^$' -bench Startup/memory -benchtime 10x ./cmd/orderflow/ -args -startup-bin /tmp/serveonly
//
// It takes up's arguments as BenchmarkStartup gives them (up --addr ADDR
// --quiet) and nothing else.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/orderflow/orderflow/internal/gctune"
	"github.com/orderflow/orderflow/internal/local"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "serveonly:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 || args[0] != "up" {
		return fmt.Errorf("usage: serveonly up --addr ADDR [--quiet]")
	}
	fs := flag.NewFlagSet("up", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:4566", "address to listen on")
	fs.Bool("quiet", false, "accepted for orderflow up's sake; the function's logs are never printed")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	gctune.Start(ctx, os.Getenv)
	l, err := local.Start(ctx, local.Options{Addr: *addr})
	if err != nil {
		return err
	}
	fmt.Printf("orderflow is up: embedded cloud at http://%s\n", *addr)
	<-ctx.Done()
	return l.Close()
}
