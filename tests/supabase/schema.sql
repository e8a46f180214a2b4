-- The chat app's Supabase schema, as its archiver writes conversations
-- (conversation and message rows; provider, model, timestamps, token counts
-- and cost), with Supabase's roles and grants.
-- Loaded by the test harness (tests/src/supabase.rs) into a template
-- database; each test project is a copy of it. Safe to run twice in one
-- cluster: roles are cluster-wide and created only when missing.

-- Supabase's API roles. PostgREST logs in as `authenticator` and switches to
-- the role named in the request's JWT (`anon` when there is none).
do $$
begin
  if not exists (select from pg_roles where rolname = 'anon') then
    create role anon nologin noinherit;
  end if;
  if not exists (select from pg_roles where rolname = 'authenticated') then
    create role authenticated nologin noinherit;
  end if;
  if not exists (select from pg_roles where rolname = 'service_role') then
    create role service_role nologin noinherit bypassrls;
  end if;
  if not exists (select from pg_roles where rolname = 'authenticator') then
    create role authenticator login noinherit;
  end if;
end
$$;

grant anon, authenticated, service_role to authenticator;
grant usage on schema public to anon, authenticated, service_role;

-- As on Supabase, the API roles hold table privileges by default; row level
-- security is what keeps `anon` out.
alter default privileges in schema public
  grant select, insert, update, delete on tables to anon, authenticated, service_role;
alter default privileges in schema public
  grant usage, select on sequences to anon, authenticated, service_role;

create table public.conversations (
  id          text primary key,
  user_id     text,
  title       text,
  created_at  timestamptz default now(),
  updated_at  timestamptz default now(),
  provider    text,
  model       text,
  "timestamp" timestamptz
);

create table public.messages (
  id              text primary key,
  conversation_id text not null references public.conversations (id) on delete cascade,
  role            text,
  content         text,
  feedback        text,
  created_at      timestamptz default now(),
  input_tokens    integer,
  output_tokens   integer,
  cost            double precision
);

create index messages_conversation_id_idx on public.messages (conversation_id);
create index conversations_user_id_idx on public.conversations (user_id);

-- RLS on, and no policy: `anon` and `authenticated` see and write nothing;
-- `service_role` bypasses RLS (BYPASSRLS), as the service key does.
alter table public.conversations enable row level security;
alter table public.messages enable row level security;

grant select, insert, update, delete on public.conversations, public.messages
  to anon, authenticated, service_role;

-- Supabase's statement timeouts for the API (its defaults): anon 3 s,
-- authenticated 8 s, and 8 s for the authenticator's sessions, which
-- service_role requests inherit. A request blocked by a lock ends with
-- 57014 instead of waiting for ever. Roles are cluster-wide: same values
-- when this runs twice.
alter role anon set statement_timeout = '3s';
alter role authenticated set statement_timeout = '8s';
alter role authenticator set statement_timeout = '8s';
