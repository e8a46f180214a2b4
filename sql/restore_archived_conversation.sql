-- Archive Desk's restore functions, for REST restores in one transaction
-- (README: "Restore"). Run the whole file as the
-- database owner; running it again upgrades an older version in place.

-- The archive object's conversation as a row of `public.conversations`,
-- once the object is well-formed: `conversation` an object with an `id`,
-- `messages` (if any) an array of objects, none naming another
-- conversation. Both forms below check the archive here, so they refuse
-- the same input with the same errors (22023) before writing anything.
create or replace function public.archived_conversation_row(payload jsonb)
returns public.conversations
language plpgsql
stable
security invoker
set search_path = public, pg_temp
as $$
declare
  conv  public.conversations;
  msgs  jsonb := coalesce(payload -> 'messages', '[]'::jsonb);
  stray text;
begin
  if payload is null or jsonb_typeof(payload -> 'conversation') is distinct from 'object' then
    raise exception 'payload.conversation must be a JSON object'
      using errcode = '22023';
  end if;
  if jsonb_typeof(msgs) <> 'array' then
    raise exception 'payload.messages must be a JSON array'
      using errcode = '22023';
  end if;
  if exists (select from jsonb_array_elements(msgs) m where jsonb_typeof(m) <> 'object') then
    raise exception 'every element of payload.messages must be a JSON object'
      using errcode = '22023';
  end if;

  conv := jsonb_populate_record(null::public.conversations, payload -> 'conversation');
  if conv.id is null then
    raise exception 'payload.conversation.id is missing'
      using errcode = '22023';
  end if;

  select m ->> 'id' into stray
    from jsonb_array_elements(msgs) m
   where m ->> 'conversation_id' is not null
     and m ->> 'conversation_id' <> conv.id
   limit 1;
  if found then
    raise exception 'message % belongs to another conversation than %', stray, conv.id
      using errcode = '22023';
  end if;
  return conv;
end
$$;

revoke all on function public.archived_conversation_row(jsonb) from public;
revoke all on function public.archived_conversation_row(jsonb) from anon, authenticated;
grant execute on function public.archived_conversation_row(jsonb) to service_role;

-- Restore one archived conversation in one transaction (a function call is
-- one): `POST /rest/v1/rpc/restore_archived_conversation` with body
-- `{"payload": <the archive object>}`, or `select
-- public.restore_archived_conversation($1::jsonb)` over a direct connection.
--
-- Inserts payload->'conversation' and every element of payload->'messages'
-- with ON CONFLICT (id) DO NOTHING, so a second call writes nothing. Only the
-- keys that are columns of the tables are used (jsonb_populate_record[set]
-- ignores the rest); a column whose key is absent is stored as NULL (the
-- archive is the truth). A message without `conversation_id` gets the
-- conversation's id; a message naming another conversation is an error and
-- nothing is written.
--
-- Returns {"conversation_inserted": 0|1, "messages_inserted": N,
--          "messages_present": M}, M = the conversation's messages in the
-- table afterwards.
create or replace function public.restore_archived_conversation(payload jsonb)
returns jsonb
language plpgsql
volatile
security invoker
set search_path = public, pg_temp
as $$
declare
  conv        public.conversations;
  msgs        jsonb := coalesce(payload -> 'messages', '[]'::jsonb);
  conv_rows   integer;
  msg_rows    integer;
  present     integer;
begin
  conv := public.archived_conversation_row(payload);

  insert into public.conversations
  select (conv).*
  on conflict (id) do nothing;
  get diagnostics conv_rows = row_count;

  -- Each row with the conversation's id set in (rebuilding the array with
  -- it first costs ~20 ms per 1,000 messages).
  insert into public.messages
  select x.*
    from jsonb_populate_recordset(null::public.messages, msgs) r,
         lateral jsonb_populate_record(r, jsonb_build_object('conversation_id', conv.id)) x
  on conflict (id) do nothing;
  get diagnostics msg_rows = row_count;

  select count(*) into present
    from public.messages
   where conversation_id = conv.id;

  return jsonb_build_object(
    'conversation_inserted', conv_rows,
    'messages_inserted', msg_rows,
    'messages_present', present);
end
$$;

revoke all on function public.restore_archived_conversation(jsonb) from public;
revoke all on function public.restore_archived_conversation(jsonb) from anon, authenticated;
grant execute on function public.restore_archived_conversation(jsonb) to service_role;

-- The two-argument form, by the same name, which Archive Desk calls when
-- `restore_archived_conversation_v3` (below, the same taking the body whole)
-- is missing:
-- `{"archive": <the archive object>, "options": {"allow_missing_columns":
-- false}}`. Its first argument is not called `payload` on purpose: a
-- database with only the one-argument form then answers "no such function"
-- (PGRST202) and writes nothing, and Archive Desk restores the older way.
-- It differs from the one-argument form in three ways, so that a restore is
-- one request:
-- - It checks the archive's fields against the tables' columns itself, in
--   the same transaction: a field no column holds is refused (error 42703,
--   nothing written, the fields listed in `detail`) unless
--   `allow_missing_columns` is true, then left out and listed in `dropped`.
-- - It returns what is stored, after the inserts: the conversation row and
--   the rows with the messages' ids, as `row_to_json` shows them, so the caller
--   verifies every field without reading anything back.
-- - `version: 2` in the answer says which form answered.
-- Returns {"version": 2, "conversation_inserted": 0|1, "messages_inserted":
-- N, "messages_present": M, "conversation": {row}|null, "messages": [rows],
-- "dropped": {"conversations": [...], "messages": [...]}}.
-- `json`, not `jsonb`: the answer is ~260 KB of rows for 1,000 messages,
-- and PostgREST turns a function's answer into text through `json_agg`;
-- built as `json` it is never converted (~20 ms less per call). Earlier
-- versions returned `jsonb`, and a function's return type cannot be
-- replaced, hence the `drop`.
drop function if exists public.restore_archived_conversation(jsonb, jsonb);
create or replace function public.restore_archived_conversation(archive jsonb, options jsonb)
returns json
language plpgsql
volatile
security invoker
set search_path = public, pg_temp
as $$
declare
  payload       jsonb := archive;
  conv          public.conversations;
  msgs          jsonb := coalesce(payload -> 'messages', '[]'::jsonb);
  allow_missing boolean := coalesce((options ->> 'allow_missing_columns')::boolean, false);
  conv_cols     text[];
  msg_cols      text[];
  conv_unknown  text[];
  msg_unknown   text[];
  conv_rows     integer;
  msg_rows      integer;
  present       integer;
  stored_conv   json;
  stored_msgs   json;
  fill          boolean;
begin
  conv := public.archived_conversation_row(payload);

  -- Archive fields without a column: jsonb_populate_record would ignore
  -- them silently, so they are refused unless the caller allows it.
  -- (`m - columns` is one call per message; the keys are listed only
  -- when some are left.)
  conv_cols := array(select a.attname::text from pg_attribute a
                      where a.attrelid = 'public.conversations'::regclass
                        and a.attnum > 0 and not a.attisdropped);
  msg_cols := array(select a.attname::text from pg_attribute a
                     where a.attrelid = 'public.messages'::regclass
                       and a.attnum > 0 and not a.attisdropped);
  select coalesce(array_agg(k order by k), '{}') into conv_unknown
    from jsonb_object_keys((payload -> 'conversation') - conv_cols) k;
  select coalesce(array_agg(distinct k order by k), '{}') into msg_unknown
    from jsonb_array_elements(msgs) m, jsonb_object_keys(m - msg_cols) k
   where m - msg_cols <> '{}'::jsonb;
  if (cardinality(conv_unknown) > 0 or cardinality(msg_unknown) > 0) and not allow_missing then
    raise exception 'the target tables lack these archive fields: %',
        array_to_string(array(select 'conversations.' || f from unnest(conv_unknown) f
                              union all
                              select 'messages.' || f from unnest(msg_unknown) f), ', ')
      using errcode = '42703',
            detail = jsonb_build_object('conversations', to_jsonb(conv_unknown),
                                        'messages', to_jsonb(msg_unknown))::text,
            hint = 'archive-desk: missing columns';
  end if;

  insert into public.conversations
  select (conv).*
  on conflict (id) do nothing;
  get diagnostics conv_rows = row_count;

  -- The rows inserted, as stored (`returning`). Only messages without
  -- `conversation_id` get it set, row by row (for every row that costs
  -- ~3 ms per 1,000; the others, checked above, hold the conversation's).
  fill := exists (select from jsonb_array_elements(msgs) m where m ->> 'conversation_id' is null);
  with inserted as (
    insert into public.messages
    select r.*
      from jsonb_populate_recordset(null::public.messages, msgs) r
     where r.conversation_id is not null
    union all
    select x.*
      from jsonb_populate_recordset(null::public.messages, msgs) r,
           lateral jsonb_populate_record(r, jsonb_build_object('conversation_id', conv.id)) x
     where fill and r.conversation_id is null
    on conflict (id) do nothing
    returning *
  )
  select count(*), coalesce(json_agg(inserted), '[]'::json)
    into msg_rows, stored_msgs
    from inserted;

  -- Some were there already: every row with the messages' ids as stored
  -- now (each statement of a function sees the ones before it).
  if msg_rows < jsonb_array_length(msgs) then
    select coalesce(json_agg(s), '[]'::json) into stored_msgs
      from public.messages s
     where s.id in (select r.id from jsonb_populate_recordset(null::public.messages, msgs) r);
  end if;
  select row_to_json(c) into stored_conv
    from public.conversations c
   where c.id = conv.id;

  select count(*) into present
    from public.messages
   where conversation_id = conv.id;

  return json_build_object(
    'version', 2,
    'conversation_inserted', conv_rows,
    'messages_inserted', msg_rows,
    'messages_present', present,
    'conversation', stored_conv,
    'messages', stored_msgs,
    'dropped', json_build_object('conversations', to_jsonb(conv_unknown),
                                  'messages', to_jsonb(msg_unknown)));
end
$$;

revoke all on function public.restore_archived_conversation(jsonb, jsonb) from public;
revoke all on function public.restore_archived_conversation(jsonb, jsonb) from anon, authenticated;
grant execute on function public.restore_archived_conversation(jsonb, jsonb) to service_role;

-- The two-argument form taking the request body whole, which Archive
-- Desk calls first: `POST /rest/v1/rpc/restore_archived_conversation_v3`
-- with `{"archive": ..., "options": ...}`. PostgREST hands a function with
-- one unnamed `jsonb` parameter the body as it came (`$1::jsonb`, one
-- parse), where named arguments go through `json_to_recordset` (the body
-- parsed as `json`, then the archive again as `jsonb`: ~5 ms more per
-- 1,000 messages). A name of its own: one unnamed `jsonb` under the first
-- name is the one-argument form's signature, and a database without this
-- function answers "no such function" (PGRST202), writes nothing, and
-- Archive Desk calls the two-argument form. Returns the two-argument
-- form's answer (`version: 2` is its format).
create or replace function public.restore_archived_conversation_v3(jsonb)
returns json
language sql
volatile
security invoker
set search_path = public, pg_temp
as $$
  select public.restore_archived_conversation($1 -> 'archive', $1 -> 'options')
$$;

revoke all on function public.restore_archived_conversation_v3(jsonb) from public;
revoke all on function public.restore_archived_conversation_v3(jsonb) from anon, authenticated;
grant execute on function public.restore_archived_conversation_v3(jsonb) to service_role;
