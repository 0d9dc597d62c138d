//go:build bsifault

package fault

import (
	"errors"
	"io/fs"
	"path/filepath"
	"syscall"
	"testing"
)

// Run with: go test -tags bsifault ./internal/fault (internal/crashtest
// drives the same code through a bsifault build of bsi in every CI run).

func TestParse(t *testing.T) {
	tests := []struct {
		env     map[string]string
		wantErr bool
		kill    int64
		errAt   int64
		errno   syscall.Errno
	}{
		{env: map[string]string{}},
		{env: map[string]string{EnvKillAt: "7"}, kill: 7},
		{env: map[string]string{EnvErrAt: "3", EnvErr: "ENOSPC"}, errAt: 3, errno: syscall.ENOSPC},
		{env: map[string]string{EnvErrAt: "3", EnvErr: "EROFS"}, errAt: 3, errno: syscall.EROFS},
		{env: map[string]string{EnvErrAt: "3", EnvErr: "EIO"}, errAt: 3, errno: syscall.EIO},
		{env: map[string]string{EnvErrAt: "3"}, wantErr: true},
		{env: map[string]string{EnvErrAt: "3", EnvErr: "EPERM"}, wantErr: true},
		{env: map[string]string{EnvKillAt: "0"}, wantErr: true},
		{env: map[string]string{EnvKillAt: "x"}, wantErr: true},
		{env: map[string]string{EnvTrace: "/nonexistent/dir/trace"}, wantErr: true},
	}
	for _, tt := range tests {
		c, err := parse(func(k string) string { return tt.env[k] })
		if (err != nil) != tt.wantErr {
			t.Errorf("%v: err %v, want error %v", tt.env, err, tt.wantErr)
			continue
		}
		if err == nil && (c.killAt != tt.kill || c.errAt != tt.errAt || c.errno != tt.errno) {
			t.Errorf("%v: got %+v", tt.env, c)
		}
	}
}

func TestCheckPathInjects(t *testing.T) {
	once.Do(func() {}) // configured here, not from the environment
	cfg = config{errAt: count.Load() + 2, errno: syscall.EROFS}
	if err := CheckPath("test.write", "/a"); err != nil {
		t.Fatalf("first point: %v", err)
	}
	p := filepath.Join("dir", "file")
	err := CheckPath("test.write", p)
	var pe *fs.PathError
	if !errors.As(err, &pe) || pe.Op != "write" || pe.Path != p || !errors.Is(err, syscall.EROFS) {
		t.Fatalf("second point: %v, want write %s: read-only file system", err, p)
	}
	if err := Check("test.write"); err != nil {
		t.Fatalf("third point: %v", err)
	}
}
