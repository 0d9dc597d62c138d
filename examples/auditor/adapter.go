package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/bsiframework/bsi/trust/client"
)

// adapterCommand is the first argument that makes this program a client
// speaking the conformance client protocol instead of an auditor.
const adapterCommand = "tuf-client"

// adapterMain is a TUF client speaking the conformance client protocol,
// built on bsi's verifying client library (trust/client): what an auditor
// writes to put any client library under the suite. It returns the exit
// code: 0 on success, 1 on any failure.
//
//	PROGRAM tuf-client --metadata-dir D init ROOTFILE
//	PROGRAM tuf-client --metadata-url U --metadata-dir D refresh
//	PROGRAM tuf-client --metadata-url U --metadata-dir D --target-name T \
//	        --target-dir TD --target-base-url TU download
func adapterMain(ctx context.Context, args []string, stderr io.Writer) int {
	if err := adapter(ctx, args); err != nil {
		fmt.Fprintln(stderr, "tuf-client:", err)
		return 1
	}
	return 0
}

func adapter(ctx context.Context, args []string) error {
	var mdDir, mdURL, targetDir, targetURL string
	var names []string
	fs := flag.NewFlagSet(adapterCommand, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&mdDir, "metadata-dir", "", "")
	fs.StringVar(&mdURL, "metadata-url", "", "")
	fs.StringVar(&targetDir, "target-dir", "", "")
	fs.StringVar(&targetURL, "target-base-url", "", "")
	fs.Func("target-name", "", func(s string) error { names = append(names, s); return nil })
	if err := fs.Parse(args); err != nil {
		return err
	}
	if mdDir == "" || fs.NArg() == 0 {
		return errors.New("want --metadata-dir D and a command: init, refresh or download")
	}
	switch verb := fs.Arg(0); {
	case verb == "init" && fs.NArg() == 2:
		root, err := os.ReadFile(fs.Arg(1))
		if err != nil {
			return err
		}
		// The root must carry a threshold of its own signatures.
		return client.Init(mdDir, root, now())
	case (verb == "refresh" || verb == "download") && fs.NArg() == 1:
		c, err := client.New(client.Config{MetadataDir: mdDir, MetadataURL: mdURL, TargetsURL: targetURL, Now: now})
		if err != nil {
			return err
		}
		// The whole workflow: root chain, timestamp, snapshot, targets.
		if err := c.Refresh(ctx); err != nil {
			return err
		}
		if verb == "refresh" {
			return nil
		}
		if err := os.MkdirAll(targetDir, 0o755); err != nil {
			return err
		}
		for _, name := range names {
			t, err := c.Lookup(ctx, name) // delegations searched, paths checked
			if err != nil {
				return err
			}
			// Length and hashes verified while streaming; nothing
			// unverified is left at the path.
			if err := c.Download(ctx, t, filepath.Join(targetDir, localName(name))); err != nil {
				return err
			}
		}
		return nil
	default:
		return fmt.Errorf("bad command line %q", strings.Join(fs.Args(), " "))
	}
}

// now is the client's clock: the process's own.
func now() time.Time { return time.Now() }

// localName is a target path as one safe file name: every byte outside
// [A-Za-z0-9_.~-] percent-encoded ("/" too), and a leading "." as well, so
// that no target name can leave the target directory.
func localName(p string) string {
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
