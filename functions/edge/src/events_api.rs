//! Live events through the edge (rules and types: [`edge_api::events`]; the database's
//! rules: migrations 20261127171500 to 20261127172000):
//!
//! | method | path | answer |
//! |---|---|---|
//! | POST | `/functions/v1/events` `{"title", "starts_at", "ends_at", "capacity", "group_id", "visibility", "description"}` | 201 the event, the caller its host |
//! | GET | `/functions/v1/events/<id>` | 200 the event, its counts and the caller's RSVP |
//! | PATCH | `/functions/v1/events/<id>` | 200 the event (the host, or the admins of its group) |
//! | POST | `/functions/v1/events/<id>/start`, `…/end`, `…/cancel` | 200 the event (status moves forward only: 409 otherwise) |
//! | POST | `/functions/v1/events/<id>/rsvp` `{"status": "going"/"interested"/"leave"}` | 200 the caller's RSVP (going past capacity is waitlisted) |
//! | POST | `/functions/v1/events/<id>/check-ins` `{"user_id"}` | 200 that participant's RSVP, checked in (the host) |
//!
//! Each is one SQL function run as the caller in the user's object. The live state on
//! `event:<id>` is the room's (`event_state`, paced), from the database's signal; a new
//! or moved event wakes the scheduler, which reminds participants and ends it if nobody
//! started it.

use crate::error::EdgeError;
use crate::user_object::{self, CallerCall, UserCall};
use crate::{caller, scheduler_object};
use edge_api::answers::{conform, Event, RsvpState};
use edge_api::events::{self, CheckIn, EventPatch, NewEvent, Rsvp, StatusChange, Visibility};
use edge_api::ApiError;
use room::Identity;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio_postgres::types::Type;
use tokio_postgres::Client;
use uuid::Uuid;
use worker::{Context, Env, Method, Request, Response};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum EventCall {
    Create(NewEvent),
    Get(Uuid),
    Update { event: Uuid, patch: EventPatch },
    Status { event: Uuid, change: StatusChange },
    Rsvp { event: Uuid, rsvp: Rsvp },
    CheckIn { event: Uuid, user_id: Uuid },
}

impl CallerCall for EventCall {
    fn cost(&self) -> u32 {
        match self {
            EventCall::Get(_) => 0,
            _ => 1,
        }
    }

    async fn answer(
        &self,
        client: &Client,
        identity: &Identity,
    ) -> Result<Result<Value, ApiError>, tokio_postgres::Error> {
        Ok(answer(client, identity, self).await?.and_then(|value| match self {
            EventCall::Rsvp { .. } | EventCall::CheckIn { .. } => conform::<RsvpState>(value),
            _ => conform::<Event>(value),
        }))
    }
}

/// Every `/functions/v1/events…` request; `segments` is the path after `events`.
pub async fn handle(req: Request, env: Env, ctx: &Context, segments: &[&str]) -> Result<Response, EdgeError> {
    let (identity, me) = caller::signed_in(&req, &env)?;
    let id = |segment: &str| events::id_in_path(segment, "event_id");
    let (status, call) = match (req.method(), segments) {
        (Method::Post, []) => {
            let create = caller::parse_body::<NewEvent>(req, events::MAX_REQUEST_BYTES).await?;
            create.check()?;
            (201, EventCall::Create(create))
        }
        (Method::Get, [event]) => (200, EventCall::Get(id(event)?)),
        (Method::Patch, [event]) => {
            let event = id(event)?;
            let patch = caller::parse_body::<EventPatch>(req, events::MAX_REQUEST_BYTES).await?;
            patch.check()?;
            (200, EventCall::Update { event, patch })
        }
        (Method::Post, [event, "rsvp"]) => {
            let event = id(event)?;
            let rsvp = caller::parse_body::<Rsvp>(req, events::MAX_REQUEST_BYTES).await?;
            (200, EventCall::Rsvp { event, rsvp })
        }
        (Method::Post, [event, "check-ins"]) => {
            let event = id(event)?;
            let CheckIn { user_id } = caller::parse_body::<CheckIn>(req, events::MAX_REQUEST_BYTES).await?;
            (200, EventCall::CheckIn { event, user_id })
        }
        (Method::Post, [event, action]) if StatusChange::from_segment(action).is_some() => {
            let change = StatusChange::from_segment(action).ok_or(EdgeError::NotFound)?;
            (200, EventCall::Status { event: id(event)?, change })
        }
        (_, [] | [_] | [_, "rsvp" | "check-ins" | "start" | "end" | "cancel"]) => {
            return Err(EdgeError::MethodNotAllowed)
        }
        _ => return Err(EdgeError::NotFound),
    };
    let timed = matches!(&call, EventCall::Create(_) | EventCall::Update { .. });
    let writes = call.cost() > 0;
    let response = user_object::respond(&env, ctx, &me, status, &UserCall::Events { identity, call }, writes).await?;
    if timed {
        scheduler_object::wake_after(&env, ctx);
    }
    Ok(response)
}

async fn answer(
    client: &Client,
    identity: &Identity,
    call: &EventCall,
) -> Result<Result<Value, ApiError>, tokio_postgres::Error> {
    let no_event = || ApiError::not_found("no such event, or you may not see it");
    let outcome = match call {
        EventCall::Create(e) => {
            let group = e.group_id.map(|g| g.to_string());
            let visibility = e.visibility.map(|v| if v == Visibility::Group { "group" } else { "public" });
            caller::json_as(
                client,
                identity,
                "select public.create_event($1, $2::text::timestamptz, $3::text::timestamptz, $4, $5,
                                            $6::text::uuid, coalesce($7::text, 'public')::public.event_visibility)::text",
                &[
                    (&e.title, Type::TEXT),
                    (&e.starts_at, Type::TEXT),
                    (&e.ends_at, Type::TEXT),
                    (&e.description, Type::TEXT),
                    (&e.capacity, Type::INT4),
                    (&group, Type::TEXT),
                    (&visibility, Type::TEXT),
                ],
            )
            .await
        }
        EventCall::Get(event) => {
            let event = event.to_string();
            caller::json_as(
                client,
                identity,
                "select public.describe_event($1::text::uuid)::text",
                &[(&event, Type::TEXT)],
            )
            .await
        }
        EventCall::Update { event, patch } => {
            let (event, patch) = (event.to_string(), serde_json::to_string(patch).unwrap_or_default());
            let statement = "select public.update_event($1::text::uuid, $2::text::jsonb)::text";
            caller::json_as(client, identity, statement, &[(&event, Type::TEXT), (&patch, Type::TEXT)]).await
        }
        EventCall::Status { event, change } => {
            let event = event.to_string();
            let statement = "select public.set_event_status($1::text::uuid, $2::text::public.event_status)::text";
            caller::json_as(client, identity, statement, &[(&event, Type::TEXT), (&change.status(), Type::TEXT)]).await
        }
        EventCall::Rsvp { event, rsvp } => {
            let event = event.to_string();
            let statement = "select public.rsvp($1::text::uuid, $2)::text";
            caller::json_as(client, identity, statement, &[(&event, Type::TEXT), (&rsvp.status.as_str(), Type::TEXT)])
                .await
        }
        EventCall::CheckIn { event, user_id } => {
            let (event, user) = (event.to_string(), user_id.to_string());
            let statement = "select public.check_in($1::text::uuid, $2::text::uuid)::text";
            caller::json_as(client, identity, statement, &[(&event, Type::TEXT), (&user, Type::TEXT)]).await
        }
    };
    match outcome {
        Ok(value) => Ok(value.ok_or_else(no_event)),
        // The insert policy (a group the caller is not in), a visibility the table's
        // check refuses, or an RSVP to an event the caller may not see.
        Err(e) if e.as_db_error().map(|d| d.code().code()) == Some("42501") => {
            Ok(Err(ApiError::forbidden("not allowed for this event or group")))
        }
        Err(e) => Err(e),
    }
}
