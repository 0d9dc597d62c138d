package main

import (
	"context"
	"fmt"

	"github.com/bsiframework/bsi/internal/progress"
	"github.com/bsiframework/bsi/trust/repo"
)

// progressDestination counts the files a publish writes into a bar on
// e.Stderr when opts.Terminal is set (commands set it to
// stderrTerminal(e)); done ends the bar. Without it dest is returned as it
// is.
func progressDestination(e *env, dest repo.Destination, opts progress.Options) (repo.Destination, func()) {
	if !opts.Terminal {
		return dest, func() {}
	}
	bar := progress.New(e.Stderr, "publishing", 0, opts)
	return &progressDest{Destination: dest, bar: bar}, bar.Done
}

// deferredDest is trust/repo's optional ability of destinations to make
// many payload writes durable with one Flush; progressDest keeps it.
type deferredDest interface {
	WriteFileDeferred(ctx context.Context, name string, data []byte) error
	Flush(ctx context.Context) error
}

type progressDest struct {
	repo.Destination
	bar *progress.Bar
}

var _ deferredDest = (*progressDest)(nil)

func (d *progressDest) WriteFile(ctx context.Context, name string, data []byte) error {
	err := d.Destination.WriteFile(ctx, name, data)
	if err == nil {
		d.bar.Add(int64(len(data)), 1)
	}
	return err
}

func (d *progressDest) WriteFileDeferred(ctx context.Context, name string, data []byte) error {
	dw, ok := d.Destination.(deferredDest)
	if !ok {
		return d.WriteFile(ctx, name, data)
	}
	err := dw.WriteFileDeferred(ctx, name, data)
	if err == nil {
		d.bar.Add(int64(len(data)), 1)
	}
	return err
}

func (d *progressDest) Flush(ctx context.Context) error {
	if dw, ok := d.Destination.(deferredDest); ok {
		return dw.Flush(ctx)
	}
	return nil
}

// String names the destination as the wrapped one does, for errors.
func (d *progressDest) String() string { return fmt.Sprint(d.Destination) }
