package devicecli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/bsiframework/bsi/trust/client"
)

// TUFClientCommands returns "tuf-client", the TUF conformance client
// protocol.
func TUFClientCommands() []*Command {
	return []*Command{{
		Name:    "tuf-client",
		Args:    "--metadata-dir DIR [--metadata-url URL] [--target-name T]... [--target-dir DIR] [--target-base-url URL] init ROOTFILE|refresh|download",
		Summary: "the TUF conformance client protocol (exit 0 or 1)",
		Help: `Speaks the client CLI protocol of TUF conformance suites, so that the
verifying core of bsi can be tested in isolation (and other clients with
bsi's own conformance runner). Options may come in any order.

  init ROOTFILE  verify ROOTFILE's self-signature and store it as
                 DIR/root.json (no network)
  refresh        run the client workflow against --metadata-url; every role
                 file is stored in DIR as soon as it verifies, as the exact
                 bytes received (root.json, timestamp.json, snapshot.json,
                 targets.json, one percent-encoded file per delegated role)
  download       refresh, then fetch and verify each --target-name from
                 --target-base-url into --target-dir, stored under its
                 percent-encoded path; a valid copy already there is kept
                 without a request

URLs are opaque prefixes. The exit code is 0 on success and 1 on any
failure. Under libfaketime (FAKETIME set) the reference time comes from
the system "date" command, which sees the faked clock.

Examples:
  bsi tuf-client --metadata-dir md init root.json
  bsi tuf-client --metadata-url http://127.0.0.1:8080/metadata --metadata-dir md refresh
  bsi tuf-client --metadata-url http://127.0.0.1:8080/metadata --metadata-dir md \
      --target-name webkit/a.tar.gz --target-dir out \
      --target-base-url http://127.0.0.1:8080/targets download`,
		Run: runTUFClient,
	}}
}

// runTUFClient maps every failure, panics included, to a plain error:
// exit 1, never the usage, security or freshness codes.
func runTUFClient(ctx context.Context, e *Env, args []string) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("tuf-client: internal error: %v", r)
		}
		err = tufClientError(err)
	}()
	a, err := parseTUFClientArgs(args)
	if err != nil {
		return err
	}
	now, err := tufClientNow(ctx, e)
	if err != nil {
		return err
	}
	if a.verb == "init" {
		root, err := os.ReadFile(a.rootFile)
		if err != nil {
			return err
		}
		return client.Init(a.metadataDir, root, now)
	}
	return a.refreshAndDownload(ctx, e, now)
}

// tufClientError strips every class from err (the protocol knows exit 0
// and 1 only), keeping flag.ErrHelp, which prints the usage.
func tufClientError(err error) error {
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return err
	}
	return errors.New(err.Error())
}

// tufClientArgs is a checked tuf-client command line: verb is "init" (with
// rootFile), "refresh" or "download"; the options each verb needs are set.
type tufClientArgs struct {
	verb, rootFile                                     string
	metadataDir, metadataURL, targetDir, targetBaseURL string
	targetNames                                        []string
}

// parseTUFClientArgs parses and checks a tuf-client command line without
// touching the disk, the network or the clock. Options and the command may
// come in any order; "--" ends the options.
func parseTUFClientArgs(args []string) (tufClientArgs, error) {
	var a tufClientArgs
	fs := NewFlags("tuf-client")
	fs.StringVar(&a.metadataDir, "metadata-dir", "", "trusted metadata directory")
	fs.StringVar(&a.metadataURL, "metadata-url", "", "metadata URL prefix")
	fs.StringVar(&a.targetDir, "target-dir", "", "directory for downloaded targets")
	fs.StringVar(&a.targetBaseURL, "target-base-url", "", "targets URL prefix")
	fs.Var((*StringList)(&a.targetNames), "target-name", "target path to download (repeatable)")
	pos, err := ParseFlags(fs, args)
	if err != nil {
		return tufClientArgs{}, err
	}
	if len(pos) == 0 {
		return tufClientArgs{}, errors.New("tuf-client: missing command (init, refresh or download)")
	}
	if a.metadataDir == "" {
		return tufClientArgs{}, errors.New("tuf-client: --metadata-dir is required")
	}
	a.verb, pos = pos[0], pos[1:]
	switch a.verb {
	case "init":
		if len(pos) != 1 {
			return tufClientArgs{}, errors.New("tuf-client init: want one ROOTFILE")
		}
		a.rootFile = pos[0]
		return a, nil
	case "refresh", "download":
		if len(pos) != 0 {
			return tufClientArgs{}, fmt.Errorf("tuf-client %s: unexpected argument %q", a.verb, pos[0])
		}
	default:
		return tufClientArgs{}, fmt.Errorf("tuf-client: unknown command %q (want init, refresh or download)", a.verb)
	}
	if a.metadataURL == "" {
		return tufClientArgs{}, errors.New("tuf-client: --metadata-url is required")
	}
	if a.verb == "download" && (a.targetDir == "" || a.targetBaseURL == "" || len(a.targetNames) == 0) {
		return tufClientArgs{}, errors.New("tuf-client download: --target-name, --target-dir and --target-base-url are required")
	}
	return a, nil
}

func (a tufClientArgs) refreshAndDownload(ctx context.Context, e *Env, now time.Time) error {
	c, err := client.New(client.Config{
		MetadataDir: a.metadataDir, MetadataURL: a.metadataURL, TargetsURL: a.targetBaseURL,
		Now: func() time.Time { return now }, Logger: e.Logger,
	})
	if err != nil {
		return err
	}
	if err := c.Refresh(ctx); err != nil {
		return err
	}
	if a.verb != "download" {
		return nil
	}
	if err := os.MkdirAll(a.targetDir, 0o755); err != nil {
		return err
	}
	for _, name := range a.targetNames {
		t, err := c.Lookup(ctx, name)
		if err != nil {
			return err
		}
		if err := c.Download(ctx, t, filepath.Join(a.targetDir, targetFileName(name))); err != nil {
			return err
		}
	}
	return nil
}

// targetFileName is the one stable local name of a target path: every
// byte outside [A-Za-z0-9_.~-] percent-encoded ("/" too), and a leading
// "." as well, so that no path can name a special or outside file.
func targetFileName(p string) string {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_':
			b.WriteByte(c)
		case (c == '.' || c == '~') && i > 0:
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// tufClientNow is the reference time: the process clock, or under
// libfaketime (which Go programs do not see) the output of "date +%s".
func tufClientNow(ctx context.Context, e *Env) (time.Time, error) {
	if e.Getenv("FAKETIME") == "" {
		return e.Now(), nil
	}
	out, err := exec.CommandContext(ctx, "date", "+%s").Output()
	if err != nil {
		return time.Time{}, fmt.Errorf("tuf-client: FAKETIME is set but date failed: %v", err)
	}
	sec, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("tuf-client: FAKETIME is set but date printed %q", out)
	}
	return time.Unix(sec, 0), nil
}
