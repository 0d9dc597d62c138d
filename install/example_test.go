package install_test

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/bsiframework/bsi/install"
)

// writeArchive writes a tar archive of name -> content files to path.
func writeArchive(path string, files ...[2]string) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		tw.WriteHeader(&tar.Header{Name: f[0], Mode: 0o644, Size: int64(len(f[1])), Typeflag: tar.TypeReg})
		tw.Write([]byte(f[1]))
	}
	tw.Close()
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		log.Fatal(err)
	}
}

func ExampleValidateArchive() {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "lib/libwebkit.so", Mode: 0o4755, Size: 3, Typeflag: tar.TypeReg})
	tw.Write([]byte("elf"))
	tw.WriteHeader(&tar.Header{Name: "lib/current", Linkname: "libwebkit.so", Typeflag: tar.TypeSymlink})
	tw.WriteHeader(&tar.Header{Name: "lib/escape", Linkname: "../../etc/passwd", Typeflag: tar.TypeSymlink})
	tw.Close()

	_, err := install.ValidateArchive(bytes.NewReader(buf.Bytes()), install.Limits{})
	var ae *install.ArchiveError
	if errors.As(err, &ae) {
		fmt.Printf("refused %s: %s\n", ae.Entry, ae.Problem)
	}
	// Output:
	// refused lib/escape: symbolic link leaves the version directory
}

func ExampleInstaller() {
	ctx := context.Background()
	tmp, _ := os.MkdirTemp("", "bsi-example-")
	defer os.RemoveAll(tmp)
	writeArchive(filepath.Join(tmp, "a.tar"), [2]string{"VERSION", "26.3-a"})
	writeArchive(filepath.Join(tmp, "b.tar"), [2]string{"VERSION", "26.3-b"})

	in, err := install.New(install.Options{Root: filepath.Join(tmp, "root"), KeepPrevious: true})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := in.Recover(ctx); err != nil { // always first
		log.Fatal(err)
	}
	for _, id := range []string{"26.3-a", "26.3-b"} {
		if err := in.Install(ctx, "webkit", id, filepath.Join(tmp, id[len(id)-1:]+".tar")); err != nil {
			log.Fatal(err)
		}
	}
	show := func() {
		id, ok, _ := in.Current("webkit")
		versions, _ := in.Versions("webkit")
		data, _ := os.ReadFile(filepath.Join(in.Root(), "webkit", "current", "VERSION"))
		fmt.Printf("current %q (%v), versions %v, VERSION %q\n", id, ok, versions, data)
	}
	show()

	// 26.3-b is withdrawn: back to the kept 26.3-a, then to the baseline.
	if err := in.Rollback(ctx, "webkit", "26.3-a"); err != nil {
		log.Fatal(err)
	}
	show()
	if err := in.Rollback(ctx, "webkit", ""); err != nil {
		log.Fatal(err)
	}
	show()
	// Output:
	// current "26.3-b" (true), versions [26.3-a 26.3-b], VERSION "26.3-b"
	// current "26.3-a" (true), versions [26.3-a], VERSION "26.3-a"
	// current "" (false), versions [], VERSION ""
}

func ExampleOptions_health() {
	ctx := context.Background()
	tmp, _ := os.MkdirTemp("", "bsi-example-")
	defer os.RemoveAll(tmp)
	writeArchive(filepath.Join(tmp, "p.tar"), [2]string{"VERSION", "2"})

	in, _ := install.New(install.Options{
		Root: filepath.Join(tmp, "root"),
		Health: func(ctx context.Context, component, id, dir string) error {
			return errors.New("smoke test exited with status 1")
		},
	})
	err := in.Install(ctx, "libpng", "2", filepath.Join(tmp, "p.tar"))
	fmt.Println(err)
	_, ok, _ := in.Current("libpng")
	fmt.Println("installed:", ok)
	// Output:
	// health check of libpng 2 failed (switched back to baseline): smoke test exited with status 1
	// installed: false
}

func ExampleInstaller_Recover() {
	tmp, _ := os.MkdirTemp("", "bsi-example-")
	defer os.RemoveAll(tmp)
	in, _ := install.New(install.Options{Root: tmp})
	rec, err := in.Recover(context.Background())
	fmt.Println(rec, err)
	// Output:
	// nothing pending <nil>
}
