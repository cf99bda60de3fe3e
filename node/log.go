package node

import (
	"context"
	"fmt"
	"log/slog"

	cmtlog "github.com/cometbft/cometbft/libs/log"
)

// slogAdapter routes CometBFT's logger to log/slog. CometBFT logs a lot at
// Info (every block, every vote), so its Info goes to slog Debug; its
// errors stay errors.
type slogAdapter struct{ l *slog.Logger }

func cometLogger(l *slog.Logger) cmtlog.Logger {
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}
	return slogAdapter{l}
}

func (a slogAdapter) Debug(msg string, kv ...any) { a.log(slog.LevelDebug-4, msg, kv) }
func (a slogAdapter) Info(msg string, kv ...any)  { a.log(slog.LevelDebug, msg, kv) }
func (a slogAdapter) Error(msg string, kv ...any) { a.log(slog.LevelError, msg, kv) }

func (a slogAdapter) With(kv ...any) cmtlog.Logger { return slogAdapter{a.l.With(attrs(kv)...)} }

func (a slogAdapter) log(level slog.Level, msg string, kv []any) {
	ctx := context.Background()
	if !a.l.Enabled(ctx, level) {
		return
	}
	a.l.Log(ctx, level, msg, attrs(kv)...)
}

// attrs turns CometBFT's alternating key/values into slog attributes,
// stringifying values lazily-formatted types (Stringer) on the way.
func attrs(kv []any) []any {
	out := make([]any, 0, len(kv))
	for i := 0; i+1 < len(kv); i += 2 {
		k, ok := kv[i].(string)
		if !ok {
			k = fmt.Sprint(kv[i])
		}
		out = append(out, slog.Any(k, kv[i+1]))
	}
	return out
}
