package cloud_test

import (
	"bufio"
	"os"
	"os/exec"
	"testing"
	"time"
)

// killWhenReady runs this test binary as a child with env added (its
// TestMain plays the part env names), waits up to 30 s for it to print
// "ready" once it has done what, and kills it (SIGKILL): a crash at that
// moment.
func killWhenReady(t *testing.T, env, what string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), env)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan bool, 1)
	go func() {
		lines := bufio.NewScanner(out)
		ok := false
		for lines.Scan() {
			if lines.Text() == "ready" {
				ok = true
				break
			}
		}
		ready <- ok
		for lines.Scan() {
		}
	}()
	select {
	case ok := <-ready:
		if !ok {
			cmd.Wait()
			t.Fatalf("the child ended before it had %s", what)
		}
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("the child had not %s within 30 s", what)
	}
	cmd.Process.Kill()
	cmd.Wait()
}
