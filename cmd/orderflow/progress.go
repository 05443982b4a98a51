package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/aws/smithy-go"
	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// progress shows how a long operation advances: a bar with rate and ETA on
// a terminal, otherwise a plain line on stderr at most every few seconds.
type progress struct {
	mu       sync.Mutex
	bar      *progressbar.ProgressBar
	w        io.Writer
	what     string
	total    int
	n        int
	start    time.Time
	lastLine time.Time
}

// plainEvery spaces the plain progress lines.
const plainEvery = 5 * time.Second

func newProgress(e *env, total int, what string) *progress {
	p := &progress{w: e.stderr, what: what, total: total, start: time.Now(), lastLine: time.Now()}
	if total > 1 && isTerminal(e.stderr) {
		p.bar = progressbar.NewOptions(total,
			progressbar.OptionSetWriter(e.stderr),
			progressbar.OptionSetDescription(what),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString("orders"),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionClearOnFinish(),
			progressbar.OptionThrottle(100*time.Millisecond),
		)
	}
	return p
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func (p *progress) add(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.n += n
	if p.bar != nil {
		p.bar.Add(n)
		return
	}
	if p.total > 1 && time.Since(p.lastLine) >= plainEvery {
		p.lastLine = time.Now()
		rate := float64(p.n) / time.Since(p.start).Seconds()
		fmt.Fprintf(p.w, "%s: %d/%d (%.0f/s)\n", p.what, p.n, p.total, rate)
	}
}

func (p *progress) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		p.bar.Finish()
	}
}

// apiError returns the AWS error code and message of err, if it has them.
func apiError(err error) (code, message string, ok bool) {
	var api smithy.APIError
	if errors.As(err, &api) {
		return api.ErrorCode(), api.ErrorMessage(), true
	}
	return "", "", false
}
