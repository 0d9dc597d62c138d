package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// repoPublished is a CLI workspace with webkit delegated, one improvement,
// everything signed and published to ws/public.
func repoPublished(t *testing.T) (*repoCLI, string) {
	c := newRepoCLI(t)
	ws := c.path("ws")
	k := func(n string) string { return c.path(n + ".key") }
	c.ok("repo", "init", ws, "--root-key", k("root1")+".pub", "--root-threshold", "1",
		"--targets-key", k("targets")+".pub", "--snapshot-key", k("snapshot"), "--timestamp-key", k("timestamp"))
	c.ok("repo", "delegate", ws, "--component", "webkit", "--key", k("webkit")+".pub")
	m, p := c.improvement("webkit-26.3-a", 1)
	c.ok("repo", "add", ws, "--manifest", m, "--payload", p, "--key", k("webkit"))
	c.ok("repo", "sign", ws, "--key", k("root1"))
	c.ok("repo", "sign", ws, "--key", k("targets"))
	c.ok("repo", "publish", ws)
	return c, ws
}

// TestAttackExportFollowsSymlinkCLI: export-role --out, --canonical and
// sign --file wrote with os.WriteFile, following a symbolic link planted
// on the USB stick (it overwrote the online snapshot key). The key must
// stay as it was.
func TestAttackExportFollowsSymlinkCLI(t *testing.T) {
	c, ws := repoPublished(t)
	k := func(n string) string { return c.path(n + ".key") }
	m, p := c.improvement("webkit-26.3-b", 2)
	c.ok("repo", "add", ws, "--manifest", m, "--payload", p, "--key", k("webkit"))
	c.ok("repo", "delegate", ws, "--component", "libc", "--key", k("webkit")+".pub")
	keyBefore, err := os.ReadFile(k("snapshot"))
	if err != nil {
		t.Fatal(err)
	}
	usb := c.path("usb")
	if err := os.Mkdir(usb, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"targets.json", "targets.payload"} {
		if err := os.Symlink(k("snapshot"), filepath.Join(usb, n)); err != nil {
			t.Fatal(err)
		}
	}
	c.ok("repo", "export-role", ws, "--role", "targets", "--out", filepath.Join(usb, "targets.json"), "--canonical", filepath.Join(usb, "targets.payload"))
	if after, _ := os.ReadFile(k("snapshot")); string(after) != string(keyBefore) {
		t.Fatal("export-role wrote through a symbolic link into the snapshot key")
	}
	// sign --file on a link: the signed file replaces the link.
	signed := filepath.Join(usb, "signed.json")
	data, _ := os.ReadFile(filepath.Join(usb, "targets.json"))
	if err := os.WriteFile(c.path("real.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(c.path("real.json"), signed); err != nil {
		t.Fatal(err)
	}
	c.ok("repo", "sign", "--file", signed, "--key", k("targets"), "--unsafe-no-previous-root", "--yes")
	if after, _ := os.ReadFile(c.path("real.json")); string(after) != string(data) {
		t.Error("sign --file wrote through a symbolic link")
	}
	if fi, err := os.Lstat(signed); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("signed file: %v %v, want a regular file", fi.Mode(), err)
	}
}

// TestRepoFileURLRelativeRefused: --to file://relative/path used to write
// the repository to /path and say only "8 file(s) written".
func TestRepoFileURLRelativeRefused(t *testing.T) {
	c, ws := repoPublished(t)
	errs := c.fail(exitFailure, "repo", "publish", ws, "--to", "file://relative/path")
	if !strings.Contains(errs, "file:///") {
		t.Errorf("stderr: %s", errs)
	}
	if _, err := os.Stat("/path"); err == nil {
		t.Log("note: /path exists on this machine")
	}
}

// TestRepoRefreshChecksDestination (issue 17 item 1): after publishing
// with --to file:///.../bucket, a plain refresh used to write a lone
// timestamp.json into an empty ws/public and exit 0; it must refuse (exit
// 1) and write nothing, and refresh --to the bucket works.
func TestRepoRefreshChecksDestination(t *testing.T) {
	c := newRepoCLI(t)
	ws := c.path("ws")
	k := func(n string) string { return c.path(n + ".key") }
	c.ok("repo", "init", ws, "--root-key", k("root1")+".pub", "--root-threshold", "1",
		"--targets-key", k("targets")+".pub", "--snapshot-key", k("snapshot"), "--timestamp-key", k("timestamp"))
	c.ok("repo", "sign", ws, "--key", k("root1"))
	c.ok("repo", "sign", ws, "--key", k("targets"))
	bucket := "file://" + c.path("bucket")
	c.ok("repo", "publish", ws, "--to", bucket)
	errs := c.fail(exitFailure, "repo", "refresh", ws)
	if !strings.Contains(errs, "serves no timestamp.json") {
		t.Errorf("stderr: %s", errs)
	}
	if _, err := os.Stat(filepath.Join(ws, "public", "timestamp.json")); err == nil {
		t.Error("refresh wrote a lone timestamp.json into ws/public")
	}
	c.ok("repo", "refresh", ws, "--to", bucket)
	// keep-fresh logs each round: what it re-signed, the new expiry.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	code, _, errs := c.run(ctx, "repo", "keep-fresh", ws, "--interval", "1h", "--to", bucket)
	if code != 0 || !strings.Contains(errs, "msg=refreshed") || !strings.Contains(errs, "timestamp_expires=") {
		t.Errorf("keep-fresh: exit %d, stderr:\n%s", code, errs)
	}
}

// TestAttackRepoPublicSymlink: ws/public planted as a symbolic link is
// refused with the security exit code.
func TestAttackRepoPublicSymlink(t *testing.T) {
	c, ws := repoPublished(t)
	if err := os.Rename(filepath.Join(ws, "public"), c.path("real-public")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(c.path("real-public"), filepath.Join(ws, "public")); err != nil {
		t.Fatal(err)
	}
	c.fail(exitSecurity, "repo", "refresh", ws)
}
