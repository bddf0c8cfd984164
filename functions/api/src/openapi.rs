//! The OpenAPI 3.1 document of the edge functions, served at
//! `GET /functions/v1/openapi.json`. The operations are listed here; every request body
//! and answer schema is generated (schemars, JSON Schema 2020-12, which OpenAPI 3.1 uses)
//! from the types the endpoints parse and answer with ([`crate::answers`]), so the
//! document cannot drift from them. Every error is the one [`ErrorBody`] shape, documented
//! as each operation's `default` answer.

use crate::answers::*;
use crate::{events, follows, groups, messages, notifications, polls, presence, threads};
use schemars::generate::{SchemaGenerator, SchemaSettings};
use schemars::JsonSchema;
use serde_json::{json, Map, Value};

/// One operation: what it takes, and what it answers on success.
struct Operation {
    method: &'static str,
    path: &'static str,
    id: &'static str,
    summary: &'static str,
    parameters: Vec<Value>,
    body: Option<Value>,
    /// Status and schema (None: no body, as 204).
    answers: Vec<(u16, Option<Value>)>,
    /// Operations whose path parameter (`.1`) takes the `id` of this one's first answer
    /// (OpenAPI links: a fuzzer follows them from what it created to what acts on it).
    links: Vec<(&'static str, &'static str)>,
}

fn schema<T: JsonSchema>(generator: &mut SchemaGenerator) -> Value {
    generator.subschema_for::<T>().to_value()
}

fn path_id(name: &str) -> Value {
    json!({"name": name, "in": "path", "required": true, "schema": {"type": "string", "format": "uuid"}})
}

fn query(name: &str, schema: Value, description: &str) -> Value {
    json!({"name": name, "in": "query", "required": false, "schema": schema, "description": description})
}

/// `limit` and `before` of every list ([`crate::paging`]).
fn page_parameters() -> Vec<Value> {
    vec![
        query(
            "limit",
            json!({"type": "integer", "minimum": 1, "maximum": crate::paging::MAX_PAGE}),
            "items per page (default 50)",
        ),
        query("before", json!({"type": "string"}), "the `next` of the previous page"),
    ]
}

fn unread_flag(what: &str) -> Value {
    query("unread", json!({"type": "boolean"}), &format!("only unread {what}"))
}

fn operations(g: &mut SchemaGenerator) -> Vec<Operation> {
    let op = |method, path, id, summary| Operation {
        method,
        path,
        id,
        summary,
        parameters: Vec::new(),
        body: None,
        answers: Vec::new(),
        links: Vec::new(),
    };
    let thread = || path_id("thread_id");
    let mut history = vec![
        thread(),
        query("before", json!({"type": "integer", "minimum": 0}), "messages with a lower sequence number"),
        query("after", json!({"type": "integer", "minimum": 0}), "messages with a higher sequence number"),
        query(
            "limit",
            json!({"type": "integer", "minimum": 1, "maximum": threads::MAX_HISTORY_PAGE}),
            "messages per page (default 50)",
        ),
    ];
    history.push(query("order", json!({"enum": ["asc", "desc"]}), "newest first (desc, the default) or oldest first"));
    let mut threads_list = page_parameters();
    threads_list.push(unread_flag("threads"));
    let mut notifications_list = page_parameters();
    notifications_list.push(unread_flag("notifications"));
    let mut follow_list = vec![path_id("user_id")];
    follow_list.extend(page_parameters());
    let presence_ids = json!({
        "name": "user_ids", "in": "query", "required": true,
        "description": format!("1 to {} user ids, comma-separated", presence::MAX_USERS),
        "schema": {"type": "string"},
    });

    let group = || path_id("group_id");
    let member = || vec![path_id("group_id"), path_id("user_id")];
    let discover = vec![
        query("q", json!({"type": "string", "maxLength": groups::MAX_QUERY_CHARS}), "part of the name, or a whole tag"),
        query("tag", json!({"type": "string", "maxLength": groups::MAX_QUERY_CHARS}), "groups with this tag"),
        query(
            "limit",
            json!({"type": "integer", "minimum": 1, "maximum": crate::paging::MAX_PAGE}),
            "groups per page (default 50)",
        ),
        query("cursor", json!({"type": "string"}), "the `next` of the previous page"),
    ];
    let mut member_list = vec![group()];
    member_list.extend(page_parameters());
    member_list.push(query("pending", json!({"type": "boolean"}), "requests to join (moderators and above)"));
    member_list.push(query("banned", json!({"type": "boolean"}), "bans (moderators and above)"));

    let mut all = vec![
        Operation {
            answers: vec![(200, Some(json!({"type": "object"})))],
            ..op("get", "/functions/v1/health", "health", "The Worker's version and a live database round trip")
        },
        Operation {
            answers: vec![(200, Some(json!({"type": "object"})))],
            ..op("get", "/functions/v1/openapi.json", "openapi", "This document")
        },
        Operation {
            body: Some(schema::<messages::SendMessage>(g)),
            answers: vec![(201, Some(schema::<Message>(g))), (200, Some(schema::<Message>(g)))],
            ..op(
                "post",
                "/functions/v1/messages",
                "sendMessage",
                "Send a message (200: the original, for a reused idempotency key)",
            )
        },
        Operation {
            body: Some(schema::<messages::SendBatch>(g)),
            answers: vec![(200, Some(schema::<BatchResults>(g)))],
            ..op(
                "post",
                "/functions/v1/messages/batch",
                "sendMessages",
                "Send up to 10 messages to one thread, one result each",
            )
        },
        Operation {
            parameters: vec![path_id("message_id")],
            body: Some(schema::<threads::EditMessage>(g)),
            answers: vec![(200, Some(schema::<Message>(g)))],
            ..op("patch", "/functions/v1/messages/{message_id}", "editMessage", "Edit one's message")
        },
        Operation {
            parameters: vec![path_id("message_id")],
            answers: vec![(200, Some(schema::<Message>(g)))],
            ..op(
                "delete",
                "/functions/v1/messages/{message_id}",
                "deleteMessage",
                "Delete a message, leaving a tombstone",
            )
        },
        Operation {
            body: Some(schema::<threads::DirectThread>(g)),
            answers: vec![(200, Some(schema::<ThreadDetails>(g)))],
            ..op(
                "post",
                "/functions/v1/threads/direct",
                "openDirectThread",
                "The direct thread with a user, started if new",
            )
        },
        Operation {
            body: Some(schema::<threads::NewGroupThread>(g)),
            answers: vec![(201, Some(schema::<ThreadDetails>(g)))],
            ..op("post", "/functions/v1/threads", "createGroupThread", "Create a group thread the caller owns")
        },
        Operation {
            parameters: threads_list,
            answers: vec![(200, Some(schema::<PageOf<Thread>>(g)))],
            ..op("get", "/functions/v1/threads", "listThreads", "The caller's threads, most recently active first")
        },
        Operation {
            answers: vec![(200, Some(schema::<UnreadMessages>(g)))],
            ..op("get", "/functions/v1/threads/unread", "unreadMessages", "Unread messages, in total and per thread")
        },
        Operation {
            parameters: vec![thread()],
            answers: vec![(200, Some(schema::<ThreadDetails>(g)))],
            ..op("get", "/functions/v1/threads/{thread_id}", "getThread", "A thread with its participants")
        },
        Operation {
            parameters: vec![thread()],
            body: Some(schema::<threads::AddParticipants>(g)),
            answers: vec![(200, Some(schema::<ThreadDetails>(g)))],
            ..op(
                "post",
                "/functions/v1/threads/{thread_id}/participants",
                "addParticipants",
                "Add participants (the owner)",
            )
        },
        Operation {
            parameters: vec![thread(), path_id("user_id")],
            answers: vec![(204, None)],
            ..op(
                "delete",
                "/functions/v1/threads/{thread_id}/participants/{user_id}",
                "removeParticipant",
                "Leave (one's own id), or remove someone (the owner)",
            )
        },
        Operation {
            parameters: vec![thread()],
            body: Some(schema::<threads::Mute>(g)),
            answers: vec![(200, Some(schema::<MuteState>(g)))],
            ..op("post", "/functions/v1/threads/{thread_id}/mute", "muteThread", "Mute or unmute a thread")
        },
        Operation {
            parameters: vec![thread()],
            body: Some(schema::<threads::MarkRead>(g)),
            answers: vec![(200, Some(schema::<ReadMark>(g)))],
            ..op(
                "post",
                "/functions/v1/threads/{thread_id}/read",
                "markThreadRead",
                "Mark read up to a sequence number",
            )
        },
        Operation {
            parameters: history,
            answers: vec![(200, Some(schema::<HistoryPage>(g)))],
            ..op(
                "get",
                "/functions/v1/threads/{thread_id}/messages",
                "threadHistory",
                "A thread's messages, by sequence",
            )
        },
        Operation {
            body: Some(schema::<follows::FollowRequest>(g)),
            answers: vec![(201, Some(schema::<Follow>(g))), (200, Some(schema::<Follow>(g)))],
            ..op("post", "/functions/v1/follows", "follow", "Follow a user (200: already following)")
        },
        Operation {
            parameters: vec![path_id("user_id")],
            answers: vec![(204, None)],
            ..op("delete", "/functions/v1/follows/{user_id}", "unfollow", "Stop following a user")
        },
        Operation {
            parameters: follow_list.clone(),
            answers: vec![(200, Some(schema::<PageOf<FollowListEntry>>(g)))],
            ..op("get", "/functions/v1/users/{user_id}/followers", "followers", "Who follows a user, newest first")
        },
        Operation {
            parameters: follow_list,
            answers: vec![(200, Some(schema::<PageOf<FollowListEntry>>(g)))],
            ..op("get", "/functions/v1/users/{user_id}/following", "following", "Whom a user follows, newest first")
        },
        Operation {
            parameters: vec![path_id("user_id")],
            answers: vec![(200, Some(schema::<FollowCounts>(g)))],
            ..op(
                "get",
                "/functions/v1/users/{user_id}/follow-counts",
                "followCounts",
                "A user's follower and following counts",
            )
        },
        Operation {
            parameters: notifications_list,
            answers: vec![(200, Some(schema::<PageOf<Notification>>(g)))],
            ..op("get", "/functions/v1/notifications", "listNotifications", "The caller's notifications, newest first")
        },
        Operation {
            answers: vec![(200, Some(schema::<UnreadNotifications>(g)))],
            ..op("get", "/functions/v1/notifications/unread-count", "unreadNotifications", "The caller's unread count")
        },
        Operation {
            body: Some(schema::<notifications::MarkRead>(g)),
            answers: vec![(200, Some(schema::<MarkedRead>(g)))],
            ..op(
                "post",
                "/functions/v1/notifications/read",
                "markNotificationsRead",
                "Mark some or all notifications read",
            )
        },
        Operation {
            parameters: vec![presence_ids],
            answers: vec![(200, Some(schema::<PresenceList>(g)))],
            ..op("get", "/functions/v1/presence", "getPresence", "Users' presence, in the order asked")
        },
        Operation {
            body: Some(schema::<presence::SetPresence>(g)),
            answers: vec![(200, Some(schema::<OwnPresence>(g)))],
            ..op("post", "/functions/v1/presence", "setPresence", "Choose how the caller appears")
        },
    ];
    all.extend(vec![
        Operation {
            body: Some(schema::<groups::NewGroup>(g)),
            answers: vec![(201, Some(schema::<Group>(g)))],
            links: [
                "getGroup",
                "updateGroup",
                "joinGroup",
                "leaveGroup",
                "listGroupMembers",
                "banGroupMember",
                "transferGroup",
            ]
            .map(|target| (target, "group_id"))
            .to_vec(),
            ..op("post", "/functions/v1/groups", "createGroup", "Create a group the caller owns")
        },
        Operation {
            parameters: discover,
            answers: vec![(200, Some(schema::<PageOf<Group>>(g)))],
            ..op("get", "/functions/v1/groups", "discoverGroups", "Public groups, most members and most active first")
        },
        Operation {
            parameters: vec![group()],
            answers: vec![(200, Some(schema::<Group>(g)))],
            ..op("get", "/functions/v1/groups/{group_id}", "getGroup", "A group, with the caller's role")
        },
        Operation {
            parameters: vec![group()],
            body: Some(schema::<groups::GroupPatch>(g)),
            answers: vec![(200, Some(schema::<Group>(g)))],
            ..op("patch", "/functions/v1/groups/{group_id}", "updateGroup", "Edit a group (owner and admins)")
        },
        Operation {
            parameters: vec![group()],
            answers: vec![(200, Some(schema::<GroupMember>(g)))],
            ..op("post", "/functions/v1/groups/{group_id}/join", "joinGroup", "Join, or ask to join a private group")
        },
        Operation {
            parameters: vec![group()],
            answers: vec![(204, None)],
            ..op("post", "/functions/v1/groups/{group_id}/leave", "leaveGroup", "Leave (the owner hands over first)")
        },
        Operation {
            parameters: member_list,
            answers: vec![(200, Some(schema::<PageOf<GroupMember>>(g)))],
            ..op("get", "/functions/v1/groups/{group_id}/members", "listGroupMembers", "Members, newest first")
        },
        Operation {
            parameters: member(),
            body: Some(schema::<groups::SetRole>(g)),
            answers: vec![(200, Some(schema::<GroupMember>(g)))],
            ..op("patch", "/functions/v1/groups/{group_id}/members/{user_id}", "setGroupRole", "Change a member's role")
        },
        Operation {
            parameters: member(),
            answers: vec![(204, None)],
            ..op("delete", "/functions/v1/groups/{group_id}/members/{user_id}", "removeGroupMember", "Remove a member")
        },
        Operation {
            parameters: member(),
            answers: vec![(200, Some(schema::<GroupMember>(g)))],
            ..op(
                "post",
                "/functions/v1/groups/{group_id}/requests/{user_id}/approve",
                "approveJoinRequest",
                "Approve a request to join",
            )
        },
        Operation {
            parameters: member(),
            answers: vec![(204, None)],
            ..op("post", "/functions/v1/groups/{group_id}/requests/{user_id}/deny", "denyJoinRequest", "Deny a request")
        },
        Operation {
            parameters: vec![group()],
            body: Some(schema::<groups::UserRef>(g)),
            answers: vec![(200, Some(schema::<GroupMember>(g)))],
            ..op("post", "/functions/v1/groups/{group_id}/bans", "banGroupMember", "Ban someone from the group")
        },
        Operation {
            parameters: member(),
            answers: vec![(204, None)],
            ..op("delete", "/functions/v1/groups/{group_id}/bans/{user_id}", "unbanGroupMember", "Lift a ban")
        },
        Operation {
            parameters: vec![group()],
            body: Some(schema::<groups::UserRef>(g)),
            answers: vec![(200, Some(schema::<Group>(g)))],
            ..op("post", "/functions/v1/groups/{group_id}/owner", "transferGroup", "Hand the group to a member")
        },
    ]);
    let poll = || path_id("poll_id");
    let event = || path_id("event_id");
    let mut voters = vec![poll(), path_id("option_id")];
    voters.extend(page_parameters());
    all.extend(vec![
        Operation {
            body: Some(schema::<polls::NewPoll>(g)),
            answers: vec![(201, Some(schema::<Poll>(g)))],
            links: ["getPoll", "vote", "retractVote", "closePoll"].map(|target| (target, "poll_id")).to_vec(),
            ..op("post", "/functions/v1/polls", "createPoll", "Ask a poll (everyone, a group, or a thread)")
        },
        Operation {
            parameters: vec![poll()],
            answers: vec![(200, Some(schema::<Poll>(g)))],
            ..op("get", "/functions/v1/polls/{poll_id}", "getPoll", "A poll, its results and the caller's votes")
        },
        Operation {
            parameters: vec![poll()],
            body: Some(schema::<polls::Vote>(g)),
            answers: vec![(200, Some(schema::<Poll>(g)))],
            ..op("post", "/functions/v1/polls/{poll_id}/votes", "vote", "Vote (replaces the caller's vote)")
        },
        Operation {
            parameters: vec![poll()],
            answers: vec![(200, Some(schema::<Poll>(g)))],
            ..op("delete", "/functions/v1/polls/{poll_id}/votes", "retractVote", "Take back the caller's vote")
        },
        Operation {
            parameters: vec![poll()],
            answers: vec![(200, Some(schema::<Poll>(g)))],
            ..op("post", "/functions/v1/polls/{poll_id}/close", "closePoll", "Close a poll (its author)")
        },
        Operation {
            parameters: voters,
            answers: vec![(200, Some(schema::<PageOf<Voter>>(g)))],
            ..op(
                "get",
                "/functions/v1/polls/{poll_id}/options/{option_id}/voters",
                "listVoters",
                "Who voted for an option (not for anonymous polls)",
            )
        },
        Operation {
            body: Some(schema::<events::NewEvent>(g)),
            answers: vec![(201, Some(schema::<Event>(g)))],
            links: ["getEvent", "updateEvent", "startEvent", "endEvent", "cancelEvent", "rsvp", "checkIn"]
                .map(|target| (target, "event_id"))
                .to_vec(),
            ..op("post", "/functions/v1/events", "createEvent", "Host an event")
        },
        Operation {
            parameters: vec![event()],
            answers: vec![(200, Some(schema::<Event>(g)))],
            ..op("get", "/functions/v1/events/{event_id}", "getEvent", "An event, its counts and the caller's RSVP")
        },
        Operation {
            parameters: vec![event()],
            body: Some(schema::<events::EventPatch>(g)),
            answers: vec![(200, Some(schema::<Event>(g)))],
            ..op("patch", "/functions/v1/events/{event_id}", "updateEvent", "Edit an event (host, group admins)")
        },
        Operation {
            parameters: vec![event()],
            answers: vec![(200, Some(schema::<Event>(g)))],
            ..op("post", "/functions/v1/events/{event_id}/start", "startEvent", "Start an event (it goes live)")
        },
        Operation {
            parameters: vec![event()],
            answers: vec![(200, Some(schema::<Event>(g)))],
            ..op("post", "/functions/v1/events/{event_id}/end", "endEvent", "End an event")
        },
        Operation {
            parameters: vec![event()],
            answers: vec![(200, Some(schema::<Event>(g)))],
            ..op("post", "/functions/v1/events/{event_id}/cancel", "cancelEvent", "Cancel an event")
        },
        Operation {
            parameters: vec![event()],
            body: Some(schema::<events::Rsvp>(g)),
            answers: vec![(200, Some(schema::<RsvpState>(g)))],
            ..op("post", "/functions/v1/events/{event_id}/rsvp", "rsvp", "Going, interested, or leave")
        },
        Operation {
            parameters: vec![event()],
            body: Some(schema::<events::CheckIn>(g)),
            answers: vec![(200, Some(schema::<RsvpState>(g)))],
            ..op("post", "/functions/v1/events/{event_id}/check-ins", "checkIn", "Check a participant in (the host)")
        },
    ]);
    all
}

/// The document, for the Worker at `version`.
pub fn document(version: &str) -> Value {
    let mut generator = SchemaSettings::draft2020_12()
        .with(|s| {
            s.definitions_path = "#/components/schemas/".into();
            s.meta_schema = None;
        })
        .into_generator();
    let error = schema::<ErrorBody>(&mut generator);
    let mut paths = Map::new();
    for operation in operations(&mut generator) {
        let mut responses = Map::new();
        for (i, (status, body)) in operation.answers.into_iter().enumerate() {
            let mut answer = json!({"description": format!("{status}")});
            if let Some(schema) = body {
                answer["content"] = json!({"application/json": {"schema": schema}});
            }
            if i == 0 && !operation.links.is_empty() {
                let links: Map<String, Value> = operation
                    .links
                    .iter()
                    .map(|(target, param)| {
                        let link = json!({"operationId": target, "parameters": {*param: "$response.body#/id"}});
                        (target.to_string(), link)
                    })
                    .collect();
                answer["links"] = Value::Object(links);
            }
            responses.insert(status.to_string(), answer);
        }
        if operation.method != "get" {
            // Writes spend the caller's budget (reads are free): the one answer with a header.
            responses.insert(
                "429".into(),
                json!({
                    "description": "over the caller's write budget; try again after Retry-After seconds",
                    "headers": {"Retry-After": {
                        "description": "seconds until the budget allows the request; absent when the request \
                                        costs more than the whole budget, where waiting cannot help",
                        "required": false,
                        "schema": {"type": "integer", "minimum": 1},
                    }},
                    "content": {"application/json": {"schema": error.clone()}},
                }),
            );
        }
        responses.insert(
            "default".into(),
            json!({
                "description": "an error: 400 naming the field, 401, 403, 404, 405, 409, 413, 429 with Retry-After, 503",
                "content": {"application/json": {"schema": error.clone()}},
            }),
        );
        let mut entry = json!({
            "operationId": operation.id,
            "summary": operation.summary,
            "responses": responses,
        });
        if !operation.parameters.is_empty() {
            entry["parameters"] = Value::Array(operation.parameters);
        }
        if let Some(body) = operation.body {
            entry["requestBody"] = json!({"required": true, "content": {"application/json": {"schema": body}}});
        }
        let methods = paths.entry(operation.path).or_insert_with(|| json!({}));
        methods[operation.method] = entry;
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Grower community edge functions",
            "version": version,
            "description": "HTTP endpoints under /functions/v1/, called as supabase-js functions.invoke calls them, \
                            with the user's token as Authorization: Bearer <jwt>. Every statement runs as the caller, \
                            so Row Level Security decides.",
        },
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "paths": paths,
        "components": {
            "schemas": generator.take_definitions(true),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
        "security": [{"bearer": []}],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_has_a_unique_id_and_every_reference_resolves() {
        let doc = document("test");
        let text = doc.to_string();
        let schemas = doc["components"]["schemas"].as_object().expect("schemas");
        for (i, _) in text.match_indices("\"$ref\":\"#/components/schemas/") {
            let rest = &text[i + "\"$ref\":\"#/components/schemas/".len()..];
            let name = &rest[..rest.find('"').unwrap_or(0)];
            assert!(schemas.contains_key(name), "{name} is referenced but not defined");
        }
        let mut ids: Vec<&str> = Vec::new();
        for (path, methods) in doc["paths"].as_object().expect("paths") {
            for (method, operation) in methods.as_object().expect("methods") {
                let id = operation["operationId"].as_str().expect("an id");
                assert!(!ids.contains(&id), "{id} twice");
                ids.push(id);
                assert!(operation["responses"]["default"].is_object(), "{method} {path} documents its errors");
                let over_budget = &operation["responses"]["429"]["headers"]["Retry-After"];
                assert_eq!(over_budget.is_object(), method != "get", "{method} {path}: a write's 429 has Retry-After");
            }
        }
        assert!(ids.len() >= 25, "{ids:?}");
        for (path, methods) in doc["paths"].as_object().expect("paths") {
            for operation in methods.as_object().expect("methods").values() {
                for answer in operation["responses"].as_object().expect("responses").values() {
                    for link in answer["links"].as_object().into_iter().flat_map(|l| l.values()) {
                        let target = link["operationId"].as_str().unwrap_or_default();
                        assert!(ids.contains(&target), "{path} links to {target}, which is no operation");
                    }
                }
            }
        }
    }

    #[test]
    fn request_schemas_refuse_unknown_fields_as_the_endpoints_do() {
        let doc = document("test");
        let send = &doc["components"]["schemas"]["SendMessage"];
        assert_eq!(send["additionalProperties"], false, "{send}");
        assert!(send["required"].as_array().is_some_and(|r| r.contains(&json!("thread_id"))), "{send}");
        let chosen = &doc["components"]["schemas"]["Chosen"];
        assert!(chosen.to_string().contains("invisible"), "{chosen}");
    }
}
