package agent

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/bsiframework/bsi/trust/client"

	"github.com/bsiframework/bsi/internal/atomicfile"
)

// Init creates the state directory dir for a device: it checks rootJSON
// (threshold of its own keys, not expired at now) through trust/client
// before anything is kept, then writes metadata/root.json, config.json, an
// empty journal and the cache directory. dir must be absent or empty; on
// any failure nothing is left behind. An empty cfg.InstallRoot means
// dir/root; a relative one is made absolute.
func Init(dir string, rootJSON []byte, cfg Config, now time.Time) (err error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	if cfg.InstallRoot == "" {
		cfg.InstallRoot = filepath.Join(abs, installDir)
	}
	if cfg.InstallRoot, err = filepath.Abs(cfg.InstallRoot); err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	absent, err := checkEmpty(abs)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return err
	}
	defer func() {
		if err == nil {
			return
		}
		if absent {
			os.RemoveAll(abs)
			return
		}
		for _, n := range []string{metadataDir, cacheDir, configFile, journalFile, seedFile} {
			os.RemoveAll(filepath.Join(abs, n))
		}
	}()
	if err := client.Init(filepath.Join(abs, metadataDir), rootJSON, now); err != nil {
		return fmt.Errorf("root metadata: %w", err)
	}
	if err := os.Mkdir(filepath.Join(abs, cacheDir), 0o700); err != nil {
		return err
	}
	if err := writeJSON(filepath.Join(abs, configFile), &cfg); err != nil {
		return err
	}
	if err := writeJSON(filepath.Join(abs, journalFile), newJournal()); err != nil {
		return err
	}
	if _, err := writeSeed(filepath.Join(abs, seedFile)); err != nil {
		return err
	}
	return atomicfile.SyncDir(abs)
}
