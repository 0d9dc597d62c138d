//go:build linux

package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bsiframework/bsi/keys"
)

// openPTY opens a new pseudo-terminal: the master side (what a terminal
// emulator holds) and the slave side (what a program gets as its
// terminal). It skips the test when the system has no /dev/ptmx.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal to test the prompt with: %v", err)
	}
	t.Cleanup(func() { master.Close() })
	fd := int(master.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil { // unlockpt
		t.Skipf("unlocking the pseudo-terminal: %v", err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN) // ptsname
	if err != nil {
		t.Skipf("naming the pseudo-terminal: %v", err)
	}
	slave, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("opening /dev/pts/%d: %v", n, err)
	}
	t.Cleanup(func() { slave.Close() })
	return master, slave
}

// screen is what a terminal shows: everything read from the master side.
type screen struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func readScreen(master *os.File) *screen {
	s := &screen{}
	go func() {
		b := make([]byte, 4096)
		for {
			n, err := master.Read(b)
			s.mu.Lock()
			s.buf.Write(b[:n])
			s.mu.Unlock()
			if err != nil { // closed, or EIO once no process holds the slave side
				return
			}
		}
	}()
	return s
}

func (s *screen) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// waitFor waits until the screen shows want, a count-th time; the
// deadline is a hang guard only.
func (s *screen) waitFor(t *testing.T, want string, count int) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for strings.Count(s.String(), want) < count {
		if time.Now().After(deadline) {
			t.Fatalf("the terminal never showed %q; it shows %q", want, s.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// typeNoEcho types text on the terminal once its echo is off: once the
// program reads a password (and before that, the prompt is printed while
// the terminal still echoes, so a fast typist's keys would show).
func typeNoEcho(t *testing.T, master, slave *os.File, text string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute) // a hang guard only
	for {
		tio, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
		if err != nil {
			t.Fatal(err)
		}
		if tio.Lflag&unix.ECHO == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the terminal's echo was never turned off")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if _, err := master.Write([]byte(text)); err != nil {
		t.Fatal(err)
	}
}

// TestPTYEchoesByDefault is the control of TestPasswordPromptNoEcho: a
// fresh pseudo-terminal echoes what is typed, so a password missing from
// the screen was hidden by bsi.
func TestPTYEchoesByDefault(t *testing.T) {
	master, _ := openPTY(t)
	s := readScreen(master)
	if _, err := master.Write([]byte("typed-text\n")); err != nil {
		t.Fatal(err)
	}
	s.waitFor(t, "typed-text", 1)
}

// TestPasswordPromptNoEcho runs "bsi keys generate" as a child process on
// a real pseudo-terminal (its controlling terminal, as stdin, stdout and
// stderr), types the password at both prompts, and checks that the
// terminal never shows it and that the key file is encrypted with it.
func TestPasswordPromptNoEcho(t *testing.T) {
	bin := bsiChild(t)
	master, slave := openPTY(t)
	out := filepath.Join(t.TempDir(), "typed.key")
	const password = "Hx7q2-typed-secret"

	cmd := startOnPTY(t, slave, bin, "keys", "generate", "--out", out)
	s := readScreen(master)
	s.waitFor(t, "Password for "+out+": ", 1)
	typeNoEcho(t, master, slave, password+"\r")
	s.waitFor(t, "Repeat password for "+out+": ", 1)
	typeNoEcho(t, master, slave, password+"\r")
	if err := waitChild(cmd); err != nil {
		t.Fatalf("bsi keys generate: %v; the terminal shows:\n%s", err, s)
	}
	s.waitFor(t, "public:  "+out+".pub\r\n", 1) // the last line (ONLCR: \r\n)
	shown := s.String()
	t.Logf("the terminal shows:\n%s", shown)
	if strings.Contains(shown, password) || strings.Contains(shown, password[:6]) {
		t.Errorf("the password is echoed:\n%s", shown)
	}
	if !strings.Contains(shown, "private: "+out+" (encrypted)") {
		t.Errorf("generate did not report an encrypted key:\n%s", shown)
	}
	info, err := keys.Inspect(t.Context(), out, func(bool) ([]byte, error) { return []byte(password), nil })
	if err != nil || !info.Encrypted || info.Kind != keys.KindPrivate {
		t.Fatalf("the key file: %+v, %v; want an encrypted private key opened by the typed password", info, err)
	}
	_, err = keys.Inspect(t.Context(), out, func(bool) ([]byte, error) { return []byte("other"), nil })
	if !errors.Is(err, keys.ErrWrongPassword) {
		t.Errorf("another password opens the key file: %v", err)
	}
}

// startOnPTY starts bin with args as the session leader of a new session
// whose controlling terminal is slave (its stdin, stdout and stderr), with
// BSI_KEY_PASSWORD unset.
func startOnPTY(t *testing.T, slave *os.File, bin string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = slices.DeleteFunc(os.Environ(), func(v string) bool { return strings.HasPrefix(v, passwordEnv+"=") })
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd
}

// waitChild waits for cmd, killing it after a hang guard.
func waitChild(cmd *exec.Cmd) error {
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(2 * time.Minute): // a hang guard only
		cmd.Process.Kill()
		<-done
		return errors.New("hangs (killed)")
	}
}

// TestPasswordPromptInterrupted: Ctrl-C at the prompt ends the command
// with a clear error (exit 1), writes no key, and leaves the terminal
// echoing again.
func TestPasswordPromptInterrupted(t *testing.T) {
	bin := bsiChild(t)
	master, slave := openPTY(t)
	out := filepath.Join(t.TempDir(), "never.key")
	cmd := startOnPTY(t, slave, bin, "keys", "generate", "--out", out)
	s := readScreen(master)
	s.waitFor(t, "Password for "+out+": ", 1)
	typeNoEcho(t, master, slave, "half-typed\x03") // \x03 is Ctrl-C (VINTR)
	err := waitChild(cmd)
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitFailure {
		t.Errorf("after Ctrl-C: %v, want exit %d", err, exitFailure)
	}
	s.waitFor(t, "bsi: error: reading password: interrupted at the password prompt", 1)
	tio, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	if tio.Lflag&unix.ECHO == 0 {
		t.Errorf("the terminal is left without echo after Ctrl-C at the prompt")
	}
	if strings.Contains(s.String(), "half-typed") {
		t.Errorf("the half-typed password is echoed:\n%s", s)
	}
	if _, err := os.Lstat(out); err == nil {
		t.Errorf("%s was written", out)
	}
}
