package pgstore

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/linkd/linkd/crypto/psi"
	"github.com/linkd/linkd/linking/linkjob"
)

// StageOwn implements linkjob.Staging: the batch replaces what was staged
// under (job, seq), in one transaction, through COPY.
func (s *Store) StageOwn(ctx context.Context, jobID string, seq int64, rows []linkjob.Row) error {
	data := make([][]any, len(rows))
	for i, r := range rows {
		var v any
		if r.Value != (psi.Element{}) {
			v = r.Value[:]
		}
		data[i] = []any{jobID, seq, int32(i), r.AccountID, r.Element[:], v}
	}
	return s.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM link_staging_own WHERE job_id = $1 AND seq = $2`, jobID, seq); err != nil {
			return err
		}
		_, err := tx.CopyFrom(ctx, pgx.Identifier{"link_staging_own"}, []string{"job_id", "seq", "pos", "account_id", "element", "value"}, pgx.CopyFromRows(data))
		return err
	})
}

// OwnBatch implements linkjob.Staging.
func (s *Store) OwnBatch(ctx context.Context, jobID string, seq int64) ([]linkjob.Row, error) {
	rows, err := s.pool.Query(ctx, `SELECT account_id, element, value FROM link_staging_own
		WHERE job_id = $1 AND seq = $2 ORDER BY pos`, jobID, seq)
	if err != nil {
		return nil, mapErr(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (linkjob.Row, error) { return scanStaged(r) })
	return out, mapErr(err)
}

// SetOwnValues implements linkjob.Staging, in one statement.
func (s *Store) SetOwnValues(ctx context.Context, jobID string, seq int64, values []psi.Element) error {
	vals := make([][]byte, len(values))
	for i := range values {
		vals[i] = values[i][:]
	}
	tag, err := s.pool.Exec(ctx, `UPDATE link_staging_own o SET value = v.value
		FROM unnest($3::bytea[]) WITH ORDINALITY AS v(value, n)
		WHERE o.job_id = $1 AND o.seq = $2 AND o.pos = v.n - 1
		  AND (SELECT count(*) FROM link_staging_own c WHERE c.job_id = $1 AND c.seq = $2) = cardinality($3::bytea[])`, jobID, seq, vals)
	if err != nil {
		return mapErr(err)
	}
	if tag.RowsAffected() != int64(len(values)) {
		return fmt.Errorf("pgstore: batch %d: %d values do not match its staged rows", seq, len(values))
	}
	return nil
}

// StageTheirs implements linkjob.Staging.
func (s *Store) StageTheirs(ctx context.Context, jobID string, seq int64, values []psi.Element) error {
	data := make([][]any, len(values))
	for i := range values {
		data[i] = []any{jobID, seq, int32(i), values[i][:]}
	}
	return s.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM link_staging_theirs WHERE job_id = $1 AND seq = $2`, jobID, seq); err != nil {
			return err
		}
		_, err := tx.CopyFrom(ctx, pgx.Identifier{"link_staging_theirs"}, []string{"job_id", "seq", "pos", "value"}, pgx.CopyFromRows(data))
		return err
	})
}

// Matched implements linkjob.Staging: one join of the two sides' values,
// read as it comes and handed over in groups.
func (s *Store) Matched(ctx context.Context, jobID string, limit int, each func([]linkjob.Row) error) error {
	rows, err := s.pool.Query(ctx, `SELECT o.account_id, o.element, o.value
		FROM link_staging_own o
		JOIN (SELECT DISTINCT value FROM link_staging_theirs WHERE job_id = $1) t ON t.value = o.value
		WHERE o.job_id = $1`, jobID)
	if err != nil {
		return mapErr(err)
	}
	defer rows.Close()
	group := make([]linkjob.Row, 0, limit)
	for rows.Next() {
		row, err := scanStaged(rows)
		if err != nil {
			return mapErr(err)
		}
		group = append(group, row)
		if len(group) == limit {
			if err := each(group); err != nil {
				return err
			}
			group = group[:0]
		}
	}
	if err := rows.Err(); err != nil {
		return mapErr(err)
	}
	if len(group) > 0 {
		return each(group)
	}
	return nil
}

// scanStaged reads a staged row: account, element and value (NULL until
// known).
func scanStaged(r pgx.Row) (linkjob.Row, error) {
	var row linkjob.Row
	var el, v []byte
	if err := r.Scan(&row.AccountID, &el, &v); err != nil {
		return row, err
	}
	if err := copyTo(row.Element[:], el, "element"); err != nil {
		return row, err
	}
	if v != nil {
		return row, copyTo(row.Value[:], v, "value")
	}
	return row, nil
}

// DropStaging implements linkjob.Staging.
func (s *Store) DropStaging(ctx context.Context, jobID string) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM link_staging_own WHERE job_id = $1`, jobID); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `DELETE FROM link_staging_theirs WHERE job_id = $1`, jobID)
		return err
	})
}
