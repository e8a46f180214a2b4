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
  stray       text;
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

  insert into public.conversations
  select (conv).*
  on conflict (id) do nothing;
  get diagnostics conv_rows = row_count;

  insert into public.messages
  select r.*
    from jsonb_populate_recordset(
           null::public.messages,
           (select coalesce(jsonb_agg(
                     m || jsonb_build_object('conversation_id', conv.id)
                     order by ord), '[]'::jsonb)
              from jsonb_array_elements(msgs) with ordinality as e(m, ord))
         ) r
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
