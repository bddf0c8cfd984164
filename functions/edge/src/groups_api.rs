//! Groups through the edge (rules and types: [`edge_api::groups`]; the database's rules:
//! migrations 20261127170300 to 20261127170800):
//!
//! | method | path | answer |
//! |---|---|---|
//! | POST | `/functions/v1/groups` `{"name", "description", "topic_tags", "privacy"}` | 201 the group, the caller its owner |
//! | GET | `/functions/v1/groups?q=&tag=&limit=&cursor=` | 200 `{"items", "next"}`: public groups, most members and most recently active first |
//! | GET | `/functions/v1/groups/<id>` | 200 the group with the caller's role and status |
//! | PATCH | `/functions/v1/groups/<id>` | 200 the group (owner and admins) |
//! | POST | `/functions/v1/groups/<id>/join` | 200 the membership: active (public) or pending (private) |
//! | POST | `/functions/v1/groups/<id>/leave` | 204 (the owner hands over first: 409) |
//! | GET | `/functions/v1/groups/<id>/members?limit=&before=&pending=&banned=` | 200 `{"items", "next"}`, newest first |
//! | PATCH | `/functions/v1/groups/<id>/members/<user_id>` `{"role"}` | 200 the membership (admins, below their own rank) |
//! | DELETE | `/functions/v1/groups/<id>/members/<user_id>` | 204: removed (moderators and above, of a lower rank) |
//! | POST | `/functions/v1/groups/<id>/requests/<user_id>/approve` | 200 the membership (moderators and above) |
//! | POST | `/functions/v1/groups/<id>/requests/<user_id>/deny` | 204 |
//! | POST | `/functions/v1/groups/<id>/bans` `{"user_id"}` | 200 the ban |
//! | DELETE | `/functions/v1/groups/<id>/bans/<user_id>` | 204 |
//! | POST | `/functions/v1/groups/<id>/owner` `{"user_id"}` | 200 the group, handed to that member |
//!
//! Every action is one SQL function run as the caller in the user's object, so PostgREST
//! (`rpc('join_group', …)`) gets the same rules and answers. What happens is broadcast on
//! `group:<id>` by the database, and a member who stops being one is signalled out of the
//! group's private channels (`feed.signal` 'recheck'); the change feed is woken after
//! each write so both arrive without waiting for its next poll.

use crate::caller;
use crate::error::EdgeError;
use crate::user_object::{self, CallerCall, UserCall};
use edge_api::answers::{conform, Group, GroupMember, PageOf};
use edge_api::groups::{self, Discover, GroupPatch, MemberList, MemberStatus, NewGroup, SetRole, UserRef};
use edge_api::paging::{Cursor, Keyset, ListQuery};
use edge_api::ApiError;
use room::Identity;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::Client;
use uuid::Uuid;
use worker::{Context, Env, Method, Request, Response};

/// What the user's object runs for these endpoints.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum GroupCall {
    Create(NewGroup),
    Discover(Discover),
    Get(Uuid),
    Update { group: Uuid, patch: GroupPatch },
    Join(Uuid),
    Remove { group: Uuid, user_id: Uuid },
    Members { group: Uuid, list: MemberList },
    SetRole { group: Uuid, user_id: Uuid, role: SetRole },
    Answer { group: Uuid, user_id: Uuid, approve: bool },
    Ban { group: Uuid, user_id: Uuid },
    Unban { group: Uuid, user_id: Uuid },
    Transfer { group: Uuid, user_id: Uuid },
}

impl CallerCall for GroupCall {
    fn cost(&self) -> u32 {
        match self {
            GroupCall::Discover(_) | GroupCall::Get(_) | GroupCall::Members { .. } => 0,
            _ => 1,
        }
    }

    async fn answer(
        &self,
        client: &Client,
        identity: &Identity,
    ) -> Result<Result<Value, ApiError>, tokio_postgres::Error> {
        Ok(answer(client, identity, self).await?.and_then(|value| match self {
            GroupCall::Create(_) | GroupCall::Get(_) | GroupCall::Update { .. } | GroupCall::Transfer { .. } => {
                conform::<Group>(value)
            }
            GroupCall::Discover(_) => conform::<PageOf<Group>>(value),
            GroupCall::Members { .. } => conform::<PageOf<GroupMember>>(value),
            GroupCall::Join(_) | GroupCall::SetRole { .. } | GroupCall::Ban { .. } => conform::<GroupMember>(value),
            GroupCall::Answer { approve: true, .. } => conform::<GroupMember>(value),
            GroupCall::Answer { approve: false, .. } | GroupCall::Remove { .. } | GroupCall::Unban { .. } => Ok(value),
        }))
    }
}

/// Every `/functions/v1/groups…` request; `segments` is the path after `groups`.
pub async fn handle(req: Request, env: Env, ctx: &Context, segments: &[&str]) -> Result<Response, EdgeError> {
    let (identity, me) = caller::signed_in(&req, &env)?;
    let group = |segment: &str| groups::id_in_path(segment, "group_id");
    let user = |segment: &str| groups::id_in_path(segment, "user_id");
    let (status, call) = match (req.method(), segments) {
        (Method::Post, []) => {
            let create = caller::parse_body::<NewGroup>(req, groups::MAX_REQUEST_BYTES).await?;
            create.check()?;
            (201, GroupCall::Create(create))
        }
        (Method::Get, []) => (200, GroupCall::Discover(Discover::parse(req.url()?.query_pairs())?)),
        (Method::Get, [id]) => (200, GroupCall::Get(group(id)?)),
        (Method::Patch, [id]) => {
            let group = group(id)?;
            let patch = caller::parse_body::<GroupPatch>(req, groups::MAX_REQUEST_BYTES).await?;
            patch.check()?;
            (200, GroupCall::Update { group, patch })
        }
        (Method::Post, [id, "join"]) => (200, GroupCall::Join(group(id)?)),
        (Method::Post, [id, "leave"]) => {
            let user_id = user(&me)?;
            (204, GroupCall::Remove { group: group(id)?, user_id })
        }
        (Method::Get, [id, "members"]) => {
            let group = group(id)?;
            let query = ListQuery::parse(req.url()?.query_pairs(), &["pending", "banned"])?;
            let status = MemberStatus::from_flags(query.has("pending"), query.has("banned"))?;
            (200, GroupCall::Members { group, list: MemberList { status, page: query.page } })
        }
        (Method::Patch, [id, "members", user_id]) => {
            let (group, user_id) = (group(id)?, user(user_id)?);
            let role = caller::parse_body::<SetRole>(req, groups::MAX_REQUEST_BYTES).await?;
            role.check()?;
            (200, GroupCall::SetRole { group, user_id, role })
        }
        (Method::Delete, [id, "members", user_id]) => {
            (204, GroupCall::Remove { group: group(id)?, user_id: user(user_id)? })
        }
        (Method::Post, [id, "requests", user_id, answer @ ("approve" | "deny")]) => {
            let approve = *answer == "approve";
            (if approve { 200 } else { 204 }, GroupCall::Answer { group: group(id)?, user_id: user(user_id)?, approve })
        }
        (Method::Post, [id, "bans"]) => {
            let group = group(id)?;
            let UserRef { user_id } = caller::parse_body::<UserRef>(req, groups::MAX_REQUEST_BYTES).await?;
            (200, GroupCall::Ban { group, user_id })
        }
        (Method::Delete, [id, "bans", user_id]) => {
            (204, GroupCall::Unban { group: group(id)?, user_id: user(user_id)? })
        }
        (Method::Post, [id, "owner"]) => {
            let group = group(id)?;
            let UserRef { user_id } = caller::parse_body::<UserRef>(req, groups::MAX_REQUEST_BYTES).await?;
            (200, GroupCall::Transfer { group, user_id })
        }
        (_, [] | [_] | [_, "join" | "leave" | "members" | "bans" | "owner"] | [_, "members" | "bans", _])
        | (_, [_, "requests", _, "approve" | "deny"]) => return Err(EdgeError::MethodNotAllowed),
        _ => return Err(EdgeError::NotFound),
    };
    let writes = call.cost() > 0;
    user_object::respond(&env, ctx, &me, status, &UserCall::Groups { identity, call }, writes).await
}

/// Runs `call` as `identity` on `client`: the endpoint's answer, or its refusal (the
/// functions' own `PTxxx` refusals arrive as database errors and are mapped by status).
async fn answer(
    client: &Client,
    identity: &Identity,
    call: &GroupCall,
) -> Result<Result<Value, ApiError>, tokio_postgres::Error> {
    let no_group = || ApiError::not_found("no such group, or it is private");
    let id = |u: &Uuid| u.to_string();
    let one = |statement: &'static str, group: &Uuid, user: &Uuid| {
        let (group, user) = (id(group), id(user));
        async move {
            let params: [(&(dyn ToSql + Sync), Type); 2] = [(&group, Type::TEXT), (&user, Type::TEXT)];
            caller::json_as(client, identity, statement, &params).await
        }
    };
    match call {
        GroupCall::Create(create) => {
            let privacy = create.privacy.map(|p| if p == groups::Privacy::Private { "private" } else { "public" });
            caller::json_as(
                client,
                identity,
                "select public.create_group($1, $2, $3::text[], coalesce($4::text, 'public')::public.group_privacy)::text",
                &[
                    (&create.name, Type::TEXT),
                    (&create.description, Type::TEXT),
                    (&create.topic_tags, Type::TEXT_ARRAY),
                    (&privacy, Type::TEXT),
                ],
            )
            .await
            .map(|v| v.ok_or_else(ApiError::internal))
        }
        GroupCall::Discover(query) => discover(client, identity, query).await,
        GroupCall::Get(group) => caller::json_as(
            client,
            identity,
            "select public.describe_group($1::text::uuid)::text",
            &[(&id(group), Type::TEXT)],
        )
        .await
        .map(|v| v.ok_or_else(no_group)),
        GroupCall::Update { group, patch } => {
            let patch = serde_json::to_string(patch).unwrap_or_default();
            caller::json_as(
                client,
                identity,
                "select public.update_group($1::text::uuid, $2::text::jsonb)::text",
                &[(&id(group), Type::TEXT), (&patch, Type::TEXT)],
            )
            .await
            .map(|v| v.ok_or_else(no_group))
        }
        GroupCall::Join(group) => caller::json_as(
            client,
            identity,
            "select public.join_group($1::text::uuid)::text",
            &[(&id(group), Type::TEXT)],
        )
        .await
        .map(|v| v.ok_or_else(ApiError::internal)),
        GroupCall::Remove { group, user_id } => {
            one("select public.remove_group_member($1::text::uuid, $2::text::uuid)::text", group, user_id)
                .await
                .map(|_| Ok(Value::Null))
        }
        GroupCall::Members { group, list } => members(client, identity, group, list).await,
        GroupCall::SetRole { group, user_id, role } => caller::json_as(
            client,
            identity,
            "select public.set_group_member_role($1::text::uuid, $2::text::uuid, $3::text::public.group_role)::text",
            &[(&id(group), Type::TEXT), (&id(user_id), Type::TEXT), (&role.role.as_str(), Type::TEXT)],
        )
        .await
        .map(|v| v.ok_or_else(ApiError::internal)),
        GroupCall::Answer { group, user_id, approve } => caller::json_as(
            client,
            identity,
            "select public.answer_join_request($1::text::uuid, $2::text::uuid, $3)::text",
            &[(&id(group), Type::TEXT), (&id(user_id), Type::TEXT), (approve, Type::BOOL)],
        )
        .await
        .map(|v| v.ok_or_else(ApiError::internal)),
        GroupCall::Ban { group, user_id } => {
            one("select public.ban_group_member($1::text::uuid, $2::text::uuid)::text", group, user_id)
                .await
                .map(|v| v.ok_or_else(ApiError::internal))
        }
        GroupCall::Unban { group, user_id } => {
            one("select public.unban_group_member($1::text::uuid, $2::text::uuid)::text", group, user_id)
                .await
                .map(|_| Ok(Value::Null))
        }
        GroupCall::Transfer { group, user_id } => {
            one("select public.transfer_group_ownership($1::text::uuid, $2::text::uuid)::text", group, user_id)
                .await
                .map(|v| v.ok_or_else(no_group))
        }
    }
    .or_else(|e| match e.as_db_error().map(|d| d.code().code()) {
        // Someone named who has no account (the foreign key to auth.users).
        Some("23503") => Ok(Err(ApiError::invalid_field("user_id", "names a user who does not exist"))),
        _ => Err(e),
    })
}

/// Public groups matching the query, most members first, then most recently active
/// (a member joining, an event or a poll created), then by id; paged by offset.
async fn discover(
    client: &Client,
    identity: &Identity,
    query: &Discover,
) -> Result<Result<Value, ApiError>, tokio_postgres::Error> {
    let statement = "select private.group_json(g)::text
           from public.social_groups g
          where g.privacy = 'public'
            and ($1::text is null or g.name ilike '%' || replace(replace(replace($1, '\\', '\\\\'), '%', '\\%'), '_', '\\_') || '%'
                 or lower($1) = any (select lower(t) from unnest(g.topic_tags) t))
            and ($2::text is null or g.topic_tags @> array[$2::text])
          order by g.member_count desc,
                   greatest(g.created_at,
                            (select max(m.joined_at) from public.group_members m
                              where m.group_id = g.id and m.status = 'active'),
                            (select max(e.created_at) from public.live_events e where e.group_id = g.id),
                            (select max(p.created_at) from public.community_polls p where p.group_id = g.id)) desc,
                   g.id
          limit $3::bigint offset $4::bigint";
    let (limit, offset) = (i64::from(query.limit) + 1, i64::from(query.offset));
    let rows = caller::query_as(
        client,
        identity,
        statement,
        &[(&query.q, Type::TEXT), (&query.tag, Type::TEXT), (&limit, Type::INT8), (&offset, Type::INT8)],
    )
    .await?;
    let mut items = Vec::with_capacity(rows.len());
    for row in rows.iter().take(query.limit as usize) {
        let text: String = row.try_get(0)?;
        items.push(serde_json::from_str::<Value>(&text).unwrap_or(Value::Null));
    }
    Ok(Ok(json!({"items": items, "next": query.next(rows.len())})))
}

/// One page of a group's members, newest first. Only members see the list; only
/// moderators and above see requests and bans.
async fn members(
    client: &Client,
    identity: &Identity,
    group: &Uuid,
    list: &MemberList,
) -> Result<Result<Value, ApiError>, tokio_postgres::Error> {
    let rank = caller::query_as(
        client,
        identity,
        "select private.my_group_rank($1::text::uuid), exists (select 1 from public.social_groups where id = $1::text::uuid)",
        &[(&group.to_string(), Type::TEXT)],
    )
    .await?;
    let (rank, visible): (i32, bool) = match rank.first() {
        Some(row) => (row.try_get(0)?, row.try_get(1)?),
        None => (0, false),
    };
    if !visible {
        return Ok(Err(ApiError::not_found("no such group, or it is private")));
    }
    let needed = if list.status == MemberStatus::Active { 1 } else { 2 };
    if rank < needed {
        return Ok(Err(ApiError::forbidden(match needed {
            1 => "only members see the member list",
            _ => "only moderators and above see requests and bans",
        })));
    }
    let keyset = Keyset { at: "m.joined_at", id: "m.user_id" };
    let statement = format!(
        "select private.member_json(m)::text, m.user_id::text, {}
           from public.group_members m
          where m.group_id = $1::text::uuid and m.status = '{}' and {}
          {}",
        keyset.cursor_column(),
        list.status.as_str(),
        keyset.after_cursor(),
        keyset.order_and_limit(),
    );
    caller::page_as(client, identity, &statement, (&group.to_string(), Type::TEXT), &list.page, |row| {
        let text: String = row.try_get(0)?;
        let id: String = row.try_get(1)?;
        let Ok(user) = Uuid::parse_str(&id) else { return Ok(None) };
        let item = serde_json::from_str::<Value>(&text).unwrap_or(Value::Null);
        Ok(Some((item, Cursor { micros: row.try_get(2)?, id: user })))
    })
    .await
}
