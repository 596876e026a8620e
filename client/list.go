package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
)

// maxPage is the most items a list route answers in one page.
const maxPage = 1000

// List reads a list route of the API (path answers {"items": [...],
// "next": cursor}) with the query q, in pages of at most 1000, sending each
// page's next cursor back as the parameter cursor ("after"; "before" when
// the list is newest first), until the last page or until it holds limit
// items (0: every item). q is changed.
func List[T any](ctx context.Context, c Caller, path string, q url.Values, cursor string, limit int) ([]T, error) {
	items := []T{}
	for limit <= 0 || len(items) < limit {
		size := maxPage
		if limit > 0 {
			size = min(size, limit-len(items))
		}
		q.Set("limit", strconv.Itoa(size))
		var page struct {
			Items []T    `json:"items"`
			Next  string `json:"next"`
		}
		if err := c.Call(ctx, http.MethodGet, path+"?"+q.Encode(), nil, &page); err != nil {
			return nil, err
		}
		items = append(items, page.Items...)
		if page.Next == "" || len(page.Items) == 0 {
			break
		}
		q.Set(cursor, page.Next)
	}
	return items, nil
}
