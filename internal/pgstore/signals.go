package pgstore

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/linkd/linkd/crypto/psi"
	"github.com/linkd/linkd/linking/signal"
)

const signalColumns = `id, direction, account_id, link_id, type, confidence, evidence_ref, note, status, created_at, expires_at`

func signalArgs(sg signal.Signal) []any {
	var lid []byte
	if sg.LinkID != (psi.LinkID{}) {
		lid = sg.LinkID[:]
	}
	return []any{sg.ID, string(sg.Direction), sg.AccountID, lid, sg.Type, sg.Confidence, sg.EvidenceRef,
		sg.Note, sg.Status, utc(sg.CreatedAt), utc(sg.ExpiresAt)}
}

func scanSignal(r pgx.CollectableRow) (signal.Signal, error) {
	var sg signal.Signal
	var dir string
	var lid []byte
	if err := r.Scan(&sg.ID, &dir, &sg.AccountID, &lid, &sg.Type, &sg.Confidence, &sg.EvidenceRef,
		&sg.Note, &sg.Status, &sg.CreatedAt, &sg.ExpiresAt); err != nil {
		return sg, err
	}
	sg.Direction = signal.Direction(dir)
	sg.CreatedAt, sg.ExpiresAt = sg.CreatedAt.UTC(), sg.ExpiresAt.UTC()
	if lid != nil {
		return sg, copyTo(sg.LinkID[:], lid, "link_id")
	}
	return sg, nil
}

const insertSignal = `INSERT INTO signals (` + signalColumns + `) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`

// CreateSignal implements signal.Store: the signal and its outbox entry in
// one transaction.
func (s *Store) CreateSignal(ctx context.Context, sg signal.Signal, relay bool) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, insertSignal, signalArgs(sg)...); err != nil {
			return err
		}
		if relay {
			_, err := tx.Exec(ctx, `INSERT INTO signal_outbox (signal_id, kind) VALUES ($1, 'signal')`, sg.ID)
			return err
		}
		return nil
	})
}

// ReceiveSignal implements signal.Store.
func (s *Store) ReceiveSignal(ctx context.Context, sg signal.Signal) (bool, error) {
	tag, err := s.pool.Exec(ctx, insertSignal+` ON CONFLICT (id) DO NOTHING`, signalArgs(sg)...)
	if err != nil {
		return false, mapErr(err)
	}
	return tag.RowsAffected() == 1, nil
}

// Signal implements signal.Store.
func (s *Store) Signal(ctx context.Context, id string) (signal.Signal, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+signalColumns+` FROM signals WHERE id = $1`, id)
	if err != nil {
		return signal.Signal{}, mapErr(err)
	}
	sg, err := pgx.CollectExactlyOneRow(rows, scanSignal)
	return sg, mapErr(err)
}

// ListSignals implements signal.Store.
func (s *Store) ListSignals(ctx context.Context, f signal.Filter) ([]signal.Signal, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+signalColumns+` FROM signals
		WHERE direction = $1 AND id > $2 AND ($3 = '' OR status = $3) AND ($4 = '' OR type = $4)
		ORDER BY id LIMIT $5`, string(f.Direction), f.After, f.Status, f.Type, f.Limit)
	if err != nil {
		return nil, mapErr(err)
	}
	out, err := pgx.CollectRows(rows, scanSignal)
	return out, mapErr(err)
}

// SetStatus implements signal.Store.
func (s *Store) SetStatus(ctx context.Context, id, status string, relay bool) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE signals SET status = $2 WHERE id = $1`, id, status)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return pgx.ErrNoRows
		}
		if relay {
			_, err = tx.Exec(ctx, `INSERT INTO signal_outbox (signal_id, kind) VALUES ($1, 'revoke')`, id)
		}
		return err
	})
}

// PendingOutbox implements signal.Store.
func (s *Store) PendingOutbox(ctx context.Context, limit int) ([]signal.OutboxEntry, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, signal_id, kind, attempts FROM signal_outbox ORDER BY id LIMIT $1`, limit)
	if err != nil {
		return nil, mapErr(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (signal.OutboxEntry, error) {
		var e signal.OutboxEntry
		err := r.Scan(&e.ID, &e.SignalID, &e.Kind, &e.Attempts)
		return e, err
	})
	return out, mapErr(err)
}

// MarkDelivered implements signal.Store.
func (s *Store) MarkDelivered(ctx context.Context, id int64) error {
	return s.execOne(ctx, `DELETE FROM signal_outbox WHERE id = $1`, id)
}
