// Package protoclient is a TUF client speaking the conformance client CLI
// protocol on top of go-tuf v2's updater, used to run the suite against
// go-tuf and, with a Fault set, as a deliberately broken client that
// proves the suite catches that fault.
package protoclient

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
	"github.com/theupdateframework/go-tuf/v2/metadata/config"
	"github.com/theupdateframework/go-tuf/v2/metadata/updater"
)

// Fault is a check a broken client skips.
type Fault string

// Faults.
const (
	None Fault = ""
	// Expiry: the reference time is 1970, so nothing ever expires.
	Expiry Fault = "expiry"
	// Rollback: trusted timestamp, snapshot and targets are forgotten
	// before each refresh, so lower versions are accepted.
	Rollback Fault = "rollback"
	// Hash: targets are downloaded and written without any check.
	Hash Fault = "hash"
	// Signature: init stores any root without checking its signatures.
	Signature Fault = "signature"
)

// Main runs one protocol command and returns the exit code.
func Main(args []string, fault Fault, stderr io.Writer) int {
	if err := run(args, fault); err != nil {
		fmt.Fprintln(stderr, "gotuf-client:", err)
		return 1
	}
	return 0
}

type options struct {
	mdDir, mdURL, targetDir, targetURL string
	names                              []string
}

func run(args []string, fault Fault) error {
	var o options
	fs := flag.NewFlagSet("gotuf-client", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&o.mdDir, "metadata-dir", "", "")
	fs.StringVar(&o.mdURL, "metadata-url", "", "")
	fs.StringVar(&o.targetDir, "target-dir", "", "")
	fs.StringVar(&o.targetURL, "target-base-url", "", "")
	fs.Func("target-name", "", func(s string) error { o.names = append(o.names, s); return nil })
	if err := fs.Parse(args); err != nil {
		return err
	}
	pos := fs.Args()
	if len(pos) == 0 || o.mdDir == "" {
		return errors.New("usage: --metadata-dir D init ROOT | refresh | download")
	}
	switch pos[0] {
	case "init":
		if len(pos) != 2 {
			return errors.New("init: want ROOTFILE")
		}
		return initRoot(o.mdDir, pos[1], fault)
	case "refresh":
		_, err := o.refresh(fault)
		return err
	case "download":
		return o.download(fault)
	}
	return fmt.Errorf("unknown command %q", pos[0])
}

func initRoot(dir, file string, fault Fault) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	if fault != Signature {
		root, err := metadata.Root().FromBytes(b)
		if err != nil {
			return err
		}
		if err := root.VerifyDelegate("root", root); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "root.json"), b, 0o644)
}

func (o *options) refresh(fault Fault) (*updater.Updater, error) {
	if fault == Rollback {
		for _, f := range []string{"timestamp.json", "snapshot.json", "targets.json"} {
			os.Remove(filepath.Join(o.mdDir, f))
		}
	}
	root, err := os.ReadFile(filepath.Join(o.mdDir, "root.json"))
	if err != nil {
		return nil, err
	}
	cfg, err := config.New(o.mdURL, root)
	if err != nil {
		return nil, err
	}
	cfg.LocalMetadataDir = o.mdDir
	cfg.LocalTargetsDir = o.targetDir
	if o.targetDir == "" {
		cfg.LocalTargetsDir = o.mdDir // refresh writes no targets, but go-tuf wants a directory
	}
	cfg.RemoteTargetsURL = o.targetURL
	if err := cfg.SetDefaultFetcherHTTPClient(&http.Client{Timeout: 20 * time.Second}); err != nil {
		return nil, err
	}
	u, err := updater.New(cfg)
	if err != nil {
		return nil, err
	}
	if fault == Expiry {
		u.UnsafeSetRefTime(time.Unix(0, 0))
	}
	return u, u.Refresh()
}

func (o *options) download(fault Fault) error {
	if len(o.names) == 0 || o.targetDir == "" || o.targetURL == "" {
		return errors.New("download: --target-name, --target-dir and --target-base-url are required")
	}
	u, err := o.refresh(fault)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(o.targetDir, 0o755); err != nil {
		return err
	}
	for _, name := range o.names {
		tf, err := u.GetTargetInfo(name)
		if err != nil {
			return err
		}
		local := filepath.Join(o.targetDir, url.PathEscape(name))
		if fault == Hash {
			if err := fetchUnchecked(o.targetURL, name, tf, local); err != nil {
				return err
			}
			continue
		}
		if _, data, err := u.FindCachedTarget(tf, local); err == nil && data != nil {
			continue
		}
		if _, _, err := u.DownloadTarget(tf, local, ""); err != nil {
			return err
		}
	}
	return nil
}

// fetchUnchecked writes whatever the server sends for the target's
// hash-prefixed name (the broken Hash client).
func fetchUnchecked(base, name string, tf *metadata.TargetFiles, local string) error {
	dir, file := "", name
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		dir, file = name[:i+1], name[i+1:]
	}
	for _, h := range tf.Hashes {
		resp, err := http.Get(strings.TrimRight(base, "/") + "/" + dir + h.String() + "." + file)
		if err != nil {
			return err
		}
		b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if err != nil {
			return err
		}
		return os.WriteFile(local, b, 0o644)
	}
	return errors.New("no hashes")
}
