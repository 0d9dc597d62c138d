package repo

import (
	"encoding/json"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzCommitJournal: whatever a planted journal holds, one that check
// accepts names only local paths of bsi's own files: no "..", no absolute
// path, a staged name of digits, a removal of a role file that is not a
// top-level role.
func FuzzCommitJournal(f *testing.F) {
	f.Add([]byte(`{"moves":[{"staged":"0","to":"content/` + strings.Repeat("a", 64) + `"},{"staged":"1","to":"workspace.json"}]}`))
	f.Add([]byte(`{"moves":[{"staged":"2","to":"metadata/roots/3.root.json"},{"staged":"3","to":"metadata/webkit.bin-3f.json"}],"remove":["metadata/libc.json"]}`))
	f.Add([]byte(`{"moves":[{"staged":"0","to":"../outside"}]}`))
	f.Add([]byte(`{"remove":["metadata/../workspace.json"]}`))
	dir := f.TempDir()
	for _, d := range []string{"metadata/roots", "content", commitDir} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			f.Fatal(err)
		}
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		f.Fatal(err)
	}
	defer root.Close()
	f.Fuzz(func(t *testing.T, data []byte) {
		var j commitJournal
		if json.Unmarshal(data, &j) != nil || j.check(root, "journal.json") != nil {
			return
		}
		for _, m := range j.Moves {
			if !filepath.IsLocal(m.To) || path.Clean(m.To) != m.To || strings.Contains(m.To, "..") || !stagedName.MatchString(m.Staged) {
				t.Fatalf("accepted move %q -> %q", m.Staged, m.To)
			}
		}
		for _, r := range j.Remove {
			if !strings.HasPrefix(r, "metadata/") || path.Clean(r) != r || strings.Contains(r, "..") || protectedRole(r) {
				t.Fatalf("accepted removal %q", r)
			}
		}
	})
}
