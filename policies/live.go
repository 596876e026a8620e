package policies

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/prometheus/client_golang/prometheus"
)

// Live is the bundle a server decides under: the built-in one, or the
// one in a directory, reloaded on SIGHUP and when its files change. A
// bundle that fails lint or its tests is refused and the running one
// stays. Its metrics: linkd_policy_reloads_total{result},
// linkd_policy_reload_failing and linkd_policy_bundle_info{hash}.
type Live struct {
	dir     string // "" for the built-in bundle
	archive Archive
	log     *slog.Logger

	cur atomic.Pointer[Bundle]
	mu  sync.Mutex // serializes reloads

	reloads *prometheus.CounterVec // by result
	failing prometheus.Gauge       // 1 while the last reload was refused
	info    *prometheus.GaugeVec   // the hash in force

	failure atomic.Pointer[ReloadFailure] // the last reload's, while it stands
}

// ReloadFailure is a reload that was refused: when, and its problems.
type ReloadFailure struct {
	At       time.Time
	Problems string
}

// Failure is the last reload's refusal, nil if the last reload loaded or
// found nothing new (or none was tried).
func (l *Live) Failure() *ReloadFailure { return l.failure.Load() }

// LoadLive loads the bundle in dir ("" for the built-in one) and
// archives it; a bundle with problems is an error, listed by
// file:line:column. reg, if set, receives its metrics.
func LoadLive(ctx context.Context, dir string, archive Archive, log *slog.Logger, reg prometheus.Registerer) (*Live, error) {
	l := &Live{dir: dir, archive: archive, log: log,
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "linkd_policy_reloads_total",
			Help: "Policy bundle reloads by result: loaded, unchanged or refused."}, []string{"result"}),
		failing: prometheus.NewGauge(prometheus.GaugeOpts{Name: "linkd_policy_reload_failing",
			Help: "1 while the last reload of the policy bundle was refused (the previous bundle stays in force)."}),
		info: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "linkd_policy_bundle_info",
			Help: "The policy bundle in force, by hash (value 1)."}, []string{"hash"}),
	}
	b, err := l.read()
	if err != nil {
		return nil, err
	}
	if err := l.use(ctx, b); err != nil {
		return nil, err
	}
	if reg != nil {
		reg.MustRegister(l.reloads, l.failing, l.info)
	}
	return l, nil
}

func (l *Live) read() (*Bundle, error) {
	if l.dir == "" {
		return Load(DefaultFS())
	}
	return Load(os.DirFS(l.dir))
}

// use archives b and puts it in force.
func (l *Live) use(ctx context.Context, b *Bundle) error {
	if l.archive != nil {
		if err := l.archive.SaveBundle(ctx, b.Hash(), b.Files()); err != nil {
			return err
		}
	}
	if old := l.cur.Swap(b); old != nil {
		l.info.DeleteLabelValues(old.Hash())
	}
	l.info.WithLabelValues(b.Hash()).Set(1)
	return nil
}

// Bundle returns the bundle in force.
func (l *Live) Bundle() *Bundle { return l.cur.Load() }

// Reload reads the bundle again; a bundle with problems is refused, logged
// and counted, and the one in force stays.
func (l *Live) Reload(ctx context.Context, why string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, err := l.read()
	if err != nil {
		// Logged before it is counted: whoever watches the gauge finds
		// the problems written.
		l.log.Error("policy bundle refused: the running bundle stays", "trigger", why, "dir", l.dir,
			"running", l.Bundle().Hash(), "problems", err.Error())
		l.reloads.WithLabelValues("refused").Inc()
		l.failure.Store(&ReloadFailure{At: time.Now().UTC(), Problems: err.Error()})
		l.failing.Set(1)
		return err
	}
	if b.Hash() == l.Bundle().Hash() {
		l.reloads.WithLabelValues("unchanged").Inc()
		l.failure.Store(nil)
		l.failing.Set(0)
		return nil
	}
	if err := l.use(ctx, b); err != nil {
		l.log.Error("policy bundle not archived: the running bundle stays", "trigger", why, "error", err)
		l.reloads.WithLabelValues("refused").Inc()
		l.failure.Store(&ReloadFailure{At: time.Now().UTC(), Problems: "the bundle could not be archived: " + err.Error()})
		l.failing.Set(1)
		return err
	}
	l.log.Info("policy bundle loaded", "trigger", why, "dir", l.dir, "hash", b.Hash(), "rules", len(b.Rules()), "tests", len(b.Tests()))
	l.reloads.WithLabelValues("loaded").Inc()
	l.failure.Store(nil)
	l.failing.Set(0)
	return nil
}

// Watch reloads on SIGHUP and, for a bundle directory, when a file in it
// or in its tests changes (after the changes settle for settle), until ctx
// ends.
func (l *Live) Watch(ctx context.Context, settle time.Duration) error {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	var events chan fsnotify.Event
	var w *fsnotify.Watcher
	if l.dir != "" {
		var err error
		if w, err = fsnotify.NewWatcher(); err != nil {
			signal.Stop(hup)
			return err
		}
		for _, d := range []string{l.dir, filepath.Join(l.dir, TestsDir)} {
			if err := w.Add(d); err != nil && d == l.dir {
				signal.Stop(hup)
				w.Close()
				return err
			}
		}
		events = w.Events
	}
	go func() {
		defer signal.Stop(hup)
		if w != nil {
			defer w.Close()
		}
		var timer <-chan time.Time
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				_ = l.Reload(ctx, "SIGHUP")
			case ev, ok := <-events:
				if !ok {
					events = nil
					continue
				}
				if ev.Op&(fsnotify.Write|fsnotify.Create|fsnotify.Remove|fsnotify.Rename) != 0 {
					timer = time.After(settle)
				}
			case <-timer:
				timer = nil
				_ = l.Reload(ctx, "file change")
			}
		}
	}()
	return nil
}
