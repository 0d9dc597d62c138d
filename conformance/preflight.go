package conformance

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/bsiframework/bsi/conformance/sim"
)

// clientCheckTimeout bounds the client's answer to the preflight init.
const clientCheckTimeout = 30 * time.Second

// ClientError says that the client under test cannot be run at all, so no
// scenario would say anything about it: Run returns it before the first
// scenario (a suite of identical "exec: not found" failures, and a bsi
// group that passes without the client, said nothing).
type ClientError struct {
	Command []string // the client command
	Step    string   // "find", "init"
	Err     error    // what went wrong
	Stderr  string   // the end of the client's stderr, for "init"
}

func (e *ClientError) Error() string {
	msg := fmt.Sprintf("conformance: client %q: %s: %v", strings.Join(e.Command, " "), e.Step, e.Err)
	if s := stderrTail(e.Stderr); s != "" {
		msg += s
	}
	return msg
}

func (e *ClientError) Unwrap() error { return e.Err }

// CheckClient makes sure client can be run and speaks the protocol: its
// command exists and is executable, and it answers "init" with the root of
// a trivial repository with exit 0 within 30 seconds. It returns a
// *ClientError otherwise.
func CheckClient(ctx context.Context, client []string, tempDir string) (err error) {
	fail := func(step string, err error, stderr string) error {
		return &ClientError{Command: client, Step: step, Err: err, Stderr: stderr}
	}
	if len(client) == 0 {
		return fail("find", errors.New("no command"), "")
	}
	if _, err := exec.LookPath(client[0]); err != nil {
		return fail("find", err, "")
	}
	dir, err := os.MkdirTemp(tempDir, "bsi-conformance-check-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	root, err := trivialRoot()
	if err != nil {
		return err
	}
	rootFile := filepath.Join(dir, "root.json")
	if err := os.WriteFile(rootFile, root, 0o644); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, clientCheckTimeout)
	defer cancel()
	argv := append(append([]string(nil), client...), "--metadata-dir", filepath.Join(dir, "metadata"), "init", rootFile)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.WaitDelay = time.Second
	var stderr strings.Builder
	cmd.Stderr = &limitedWriter{w: &stderr, n: 64 << 10}
	if err := os.MkdirAll(filepath.Join(dir, "metadata"), 0o755); err != nil {
		return err
	}
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("no answer to init within %v", clientCheckTimeout)
		}
		return fail("init", err, stderr.String())
	}
	return nil
}

// trivialRoot is the version 1 root of a fresh simulated repository.
func trivialRoot() (root []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			e, ok := p.(error)
			if !ok {
				panic(p)
			}
			err = e
		}
	}()
	r := sim.New(time.Now(), func(err error) { panic(err) })
	defer r.Close()
	return r.Get("1.root.json"), nil
}
