package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Packages of the whole-process clients, relative to the source tree.
const (
	// agentPackage is bsi's device binary (client and tuf-client only),
	// when the tree has it; mainPackage is the full bsi binary.
	agentPackage = "./cmd/bsi-agent"
	mainPackage  = "./cmd/bsi"
	// goTUFPackage is a small client on go-tuf v2's updater speaking the
	// same tuf-client protocol: load the trusted root from a directory,
	// refresh, exit.
	goTUFPackage = "./conformance/internal/gotufclient"
)

// modulePath is the module whose source tree the binaries are built from.
const modulePath = "github.com/bsiframework/bsi"

// DevicePackage returns the package of bsi's whole-process client in the
// source tree src: the device binary ./cmd/bsi-agent when the tree has
// it, else the full ./cmd/bsi (both speak "tuf-client"). It is the one
// place this is decided.
func DevicePackage(src string) string {
	if fi, err := os.Stat(filepath.Join(src, agentPackage)); err == nil && fi.IsDir() {
		return agentPackage
	}
	return mainPackage
}

// FindSource returns the root of the bsi source tree holding the current
// directory, as the go command sees it (go env GOMOD), for Config.Source.
func FindSource(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("bench: go env GOMOD: %w (whole-process figures need the go command)", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("bench: the current directory is in no Go module; whole-process figures are built from the bsi source tree")
	}
	data, err := os.ReadFile(gomod)
	if err != nil {
		return "", fmt.Errorf("bench: %w", err)
	}
	first, _, _ := strings.Cut(string(data), "\n")
	if strings.TrimSpace(first) != "module "+modulePath {
		return "", fmt.Errorf("bench: %s is not the go.mod of %s (first line %q)", gomod, modulePath, first)
	}
	return filepath.Dir(gomod), nil
}

// binaries are the two whole-process clients of a run, built once into
// a directory of their own.
type binaries struct {
	bsi   []string // command line prefix: binary, "tuf-client"
	goTUF []string
	pkg   string // the package bsi's binary was built from
	// runner measures a process's wall time and peak RSS (see
	// runnerSource); set by footprint.
	runner string
}

// shipFlags are the flags every binary of a run is built with: those the
// README gives for the device binary (with CGO_ENABLED=0), for both
// clients alike.
var shipFlags = []string{"-trimpath", "-ldflags=-s -w"}

// build compiles both clients from the source tree src into dir with the
// same flags (shipFlags).
func build(ctx context.Context, src, dir string) (binaries, error) {
	bin := binaries{pkg: DevicePackage(src)}
	for _, p := range []struct {
		pkg, out string
		dst      *[]string
		args     []string
	}{
		{bin.pkg, "bsi-device", &bin.bsi, []string{"tuf-client"}},
		{goTUFPackage, "gotuf-client", &bin.goTUF, nil},
	} {
		out := filepath.Join(dir, p.out)
		cmd := exec.CommandContext(ctx, "go", append(append([]string{"build"}, shipFlags...), "-o", out, p.pkg)...)
		cmd.Dir = src
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if msg, err := cmd.CombinedOutput(); err != nil {
			return binaries{}, fmt.Errorf("building %s in %s: %w\n%s", p.pkg, src, err, msg)
		}
		*p.dst = append([]string{out}, p.args...)
	}
	return bin, nil
}

// procDevice is a client run as a whole process per check, start-up
// included, the way a device or a conformance harness runs it: the
// tuf-client protocol's "init ROOTFILE" installs the root, and each
// check is one "refresh" (the top-level roles: root, timestamp, snapshot,
// targets; no delegated role, no lookup, no download).
type procDevice struct {
	who string
	cmd []string
	url string
}

func (d procDevice) name() string { return d.who }

func (d procDevice) install(state string, root []byte) error {
	file := state + ".root.json"
	if err := os.WriteFile(file, root, 0o644); err != nil {
		return err
	}
	defer os.Remove(file)
	return d.run(context.Background(), "--metadata-dir", state, "init", file)
}

// check runs "refresh"; target and download do not apply (see procDevice).
func (d procDevice) check(ctx context.Context, state, _ string, _ bool) error {
	return d.run(ctx, "--metadata-url", d.url, "--metadata-dir", state, "refresh")
}

func (d procDevice) run(ctx context.Context, args ...string) error {
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, d.cmd[0], append(d.cmd[1:len(d.cmd):len(d.cmd)], args...)...)
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %w: %s", d.who, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return nil
}
