package store

import (
	"context"
	"encoding/json"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/linkd/linkd/policies"
)

// SaveBundle implements policies.Archive.
func (s *Store) SaveBundle(ctx context.Context, h string, files []policies.File) error {
	data, err := json.Marshal(files)
	if err != nil {
		return err
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO policy_bundles (hash, files, first_used) VALUES ($1, $2, $3)
		ON CONFLICT (hash) DO NOTHING`, h, data, time.Now().UTC())
	return mapErr(err)
}

// BundleFiles implements policies.Archive.
func (s *Store) BundleFiles(ctx context.Context, h string) ([]policies.File, error) {
	var data []byte
	if err := s.pool.QueryRow(ctx, `SELECT files FROM policy_bundles WHERE hash = $1`, h).Scan(&data); err != nil {
		return nil, mapErr(err)
	}
	var files []policies.File
	if err := json.Unmarshal(data, &files); err != nil {
		return nil, mapErr(err)
	}
	return files, nil
}

// Bundles implements policies.Archive.
func (s *Store) Bundles(ctx context.Context) ([]policies.Archived, error) {
	rows, err := s.pool.Query(ctx, `SELECT hash, first_used FROM policy_bundles ORDER BY first_used DESC, hash`)
	if err != nil {
		return nil, mapErr(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (policies.Archived, error) {
		var a policies.Archived
		err := r.Scan(&a.Hash, &a.FirstUsed)
		a.FirstUsed = a.FirstUsed.UTC()
		return a, err
	})
	return out, mapErr(err)
}
