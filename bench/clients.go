package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	tufconfig "github.com/theupdateframework/go-tuf/v2/metadata/config"
	"github.com/theupdateframework/go-tuf/v2/metadata/fetcher"
	"github.com/theupdateframework/go-tuf/v2/metadata/updater"

	"github.com/bsiframework/bsi/trust/client"
)

// device is one TUF client implementation as a device runs it: each check
// is a new process (a new client, new connections) over a metadata
// directory that persists between checks.
type device interface {
	name() string
	// install stores the trusted root in a new state directory.
	install(state string, root []byte) error
	// check refreshes, looks up target and, when download is set,
	// downloads its payload to a file next to the state directory.
	check(ctx context.Context, state, target string, download bool) error
}

// Names of the two clients in reports.
const (
	BSI   = "bsi"
	GoTUF = "go-tuf"
)

// benchLimits are the metadata size limits both clients get: bsi's
// defaults (4 MiB snapshot), but targets roles up to 128 MiB, since the
// component role of 100,000 improvements listed flat is 58 MiB and the
// publisher's snapshot gives no lengths (bsi's default is 32 MiB).
var benchLimits = client.Limits{SnapshotMax: 4 << 20, TargetsMax: 128 << 20}

// bsiDevice drives the bsi client core, trust/client.
type bsiDevice struct {
	url string
	now func() time.Time
}

func (bsiDevice) name() string { return BSI }

func (d bsiDevice) install(state string, root []byte) error {
	return client.Init(state, root, d.now())
}

func (d bsiDevice) check(ctx context.Context, state, target string, download bool) error {
	hc := newHTTPClient()
	defer hc.CloseIdleConnections()
	c, err := client.New(client.Config{MetadataDir: state, MetadataURL: d.url, HTTPClient: hc, Now: d.now, Limits: benchLimits})
	if err != nil {
		return err
	}
	if err := c.Refresh(ctx); err != nil {
		return fmt.Errorf("bsi refresh: %w", err)
	}
	t, err := c.Lookup(ctx, target)
	if err != nil {
		return fmt.Errorf("bsi lookup: %w", err)
	}
	if !download {
		return nil
	}
	if err := c.Download(ctx, t, state+".payload"); err != nil {
		return fmt.Errorf("bsi download: %w", err)
	}
	return nil
}

// goTUFDevice drives go-tuf v2's metadata/updater, the reference client,
// with a fetcher of its own (never http.DefaultClient) and a new Updater
// per check (an Updater refreshes once). Like a device, it reads its
// trusted root from its metadata directory, where the updater keeps the
// newest root.
type goTUFDevice struct{ url string }

func (goTUFDevice) name() string { return GoTUF }

func (d goTUFDevice) install(state string, root []byte) error {
	if err := os.MkdirAll(state, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(state, "root.json"), root, 0o644)
}

func (d goTUFDevice) check(ctx context.Context, state, target string, download bool) error {
	root, err := os.ReadFile(filepath.Join(state, "root.json"))
	if err != nil {
		return err
	}
	cfg, err := tufconfig.New(d.url, root)
	if err != nil {
		return err
	}
	cfg.LocalMetadataDir = state
	cfg.LocalTargetsDir = state + ".targets"
	// Large flat repositories exceed go-tuf's default limits (2 MB
	// snapshot, 5 MB targets): both clients get the same limits.
	cfg.SnapshotMaxLength = benchLimits.SnapshotMax
	cfg.TargetsMaxLength = benchLimits.TargetsMax
	hc := newHTTPClient()
	defer hc.CloseIdleConnections()
	f := fetcher.NewDefaultFetcher()
	f.SetHTTPClient(hc)
	cfg.Fetcher = f
	up, err := updater.New(cfg)
	if err != nil {
		return fmt.Errorf("go-tuf: %w", err)
	}
	if err := up.Refresh(); err != nil {
		return fmt.Errorf("go-tuf refresh: %w", err)
	}
	ti, err := up.GetTargetInfo(target)
	if err != nil {
		return fmt.Errorf("go-tuf lookup: %w", err)
	}
	if !download {
		return nil
	}
	if _, _, err := up.DownloadTarget(ti, state+".payload", ""); err != nil {
		return fmt.Errorf("go-tuf download: %w", err)
	}
	return nil
}
