// The custom-audience flow as an advertiser's program writes it with the
// Marketing API's Node SDK; only the base URL points at linkd.
//
// Environment: LINKD_URL (the server), LINKD_TOKEN (an advertiser key),
// LINKD_ACCOUNT (act_ and the key's tenant), LINKD_HASHES (a file of
// PHONE_SHA256 hashes, one a line). It prints one JSON object of what each
// step answered; the Go test checks it.
import { readFileSync } from 'node:fs';
import bizSdk from 'facebook-nodejs-business-sdk';

const { FacebookAdsApi, AdAccount, CustomAudience } = bizSdk;

Object.defineProperty(FacebookAdsApi, 'GRAPH', { get: () => process.env.LINKD_URL });
FacebookAdsApi.init(process.env.LINKD_TOKEN, 'en_US', false);

const hashes = readFileSync(process.env.LINKD_HASHES, 'utf8').trim().split('\n');
const fields = [
  CustomAudience.Fields.name,
  CustomAudience.Fields.description,
  CustomAudience.Fields.subtype,
  CustomAudience.Fields.customer_file_source,
  CustomAudience.Fields.approximate_count_lower_bound,
  CustomAudience.Fields.approximate_count_upper_bound,
  CustomAudience.Fields.operation_status,
  CustomAudience.Fields.delivery_status,
];
const out = {};

async function graphError(step) {
  try {
    await step();
    return null;
  } catch (e) {
    return { status: e.status, name: e.name, code: e.response?.code, subcode: e.response?.error_subcode, message: e.message };
  }
}

const account = new AdAccount(process.env.LINKD_ACCOUNT);
const audience = await account.createCustomAudience([], {
  name: 'Spring buyers',
  subtype: 'CUSTOM',
  description: 'Customers who bought in spring',
  customer_file_source: 'USER_PROVIDED_ONLY',
});
out.id = audience.id;
out.empty = (await new CustomAudience(audience.id).get(fields))._data;

// Add the list in two batches of one session.
const half = Math.floor(hashes.length / 2);
for (const [seq, data] of [[1, hashes.slice(0, half)], [2, hashes.slice(half)]]) {
  const added = await audience.createUser([], {
    payload: { schema: 'PHONE_SHA256', data },
    session: { session_id: 1001, batch_seq: seq, last_batch_flag: seq === 2, estimated_num_total: hashes.length },
  });
  out['added' + seq] = added._data;
}
out.full = (await new CustomAudience(audience.id).get(fields))._data;

// Remove the first batch's people again.
out.removed = await audience.deleteUsers({
  payload: { schema: 'PHONE_SHA256', data: hashes.slice(0, half) },
  session: { session_id: 1002, batch_seq: 1, last_batch_flag: true },
});
out.afterRemove = (await new CustomAudience(audience.id).get(fields))._data;

// Replace the audience with the whole list.
const replaced = await audience.createUsersReplace([], {
  payload: { schema: 'PHONE_SHA256', data: hashes },
  session: { session_id: 1003, batch_seq: 1, last_batch_flag: true, estimated_num_total: hashes.length },
});
out.replaced = replaced._data;
out.afterReplace = (await new CustomAudience(audience.id).get(fields))._data;

// A field the audience does not have, and an ad account not the key's.
out.badField = await graphError(() => new CustomAudience(audience.id).get(['colour']));
out.otherAccount = await graphError(() =>
  new AdAccount('act_someone_else').createCustomAudience([], { name: 'x', subtype: 'CUSTOM', customer_file_source: 'USER_PROVIDED_ONLY' }));

out.deleted = await new CustomAudience(audience.id).delete();
out.afterDelete = await graphError(() => new CustomAudience(audience.id).get(fields));

process.stdout.write(JSON.stringify(out) + '\n');
