//! rmcp keeps one future per request, as large as the largest that any method of the
//! server returns: no method's may be larger than a `tools/call`'s, whatever the state's
//! own handlers hold, or every call would allocate and move the difference.

// The state forwards legacy methods (logging) too.
#![allow(deprecated)]

use rmcp::ErrorData as McpError;
use rmcp::ServerHandler;
use rmcp::model::{
    CallToolRequestParams, CancelTaskParams, CompleteRequestParams, CompleteResult, CustomRequest,
    CustomResult, GetPromptRequestParams, GetPromptResponse, GetSkillRequestParams, GetSkillResult,
    GetTaskParams, GetTaskResult, ListPromptsResult, ListResourceTemplatesResult,
    ListResourcesResult, ListSkillsResult, PaginatedRequestParams,
    ReadResourceDirectoryRequestParams, ReadResourceDirectoryResult, ReadResourceRequestParams,
    ReadResourceResponse, SetLevelRequestParams, SubscribeRequestParams, UnsubscribeRequestParams,
    UpdateTaskParams,
};
use rmcp::service::{RequestContext, RoleServer};

use crate::{SecureServerBuilder, SecureToolRouter};

/// A state whose own handlers each hold 16 KiB across an await.
struct Heavy;

async fn heavy<T>(value: T) -> T {
    let held = [7u8; 16 * 1024];
    tokio::task::yield_now().await;
    std::hint::black_box(&held);
    value
}

impl ServerHandler for Heavy {
    async fn ping(&self, _: RequestContext<RoleServer>) -> Result<(), McpError> {
        heavy(Ok(())).await
    }

    async fn complete(
        &self,
        _: CompleteRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, McpError> {
        heavy(Ok(CompleteResult::default())).await
    }

    async fn set_level(
        &self,
        _: SetLevelRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        heavy(Ok(())).await
    }

    async fn get_prompt(
        &self,
        _: GetPromptRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, McpError> {
        heavy(Err(McpError::invalid_params("no prompt", None))).await
    }

    async fn list_prompts(
        &self,
        _: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, McpError> {
        heavy(Ok(ListPromptsResult::default())).await
    }

    async fn list_resources(
        &self,
        _: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, McpError> {
        heavy(Ok(ListResourcesResult::default())).await
    }

    async fn read_resource(
        &self,
        _: ReadResourceRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, McpError> {
        heavy(Err(McpError::invalid_params("no resource", None))).await
    }

    async fn subscribe(
        &self,
        _: SubscribeRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        heavy(Ok(())).await
    }

    async fn unsubscribe(
        &self,
        _: UnsubscribeRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        heavy(Ok(())).await
    }

    async fn list_resource_templates(
        &self,
        _: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, McpError> {
        heavy(Ok(ListResourceTemplatesResult::default())).await
    }

    async fn read_resource_directory(
        &self,
        _: ReadResourceDirectoryRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<ReadResourceDirectoryResult, McpError> {
        heavy(Ok(ReadResourceDirectoryResult::default())).await
    }

    async fn get_task(
        &self,
        _: GetTaskParams,
        _: RequestContext<RoleServer>,
    ) -> Result<GetTaskResult, McpError> {
        heavy(Err(McpError::invalid_params("no task", None))).await
    }

    async fn update_task(
        &self,
        _: UpdateTaskParams,
        _: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        heavy(Ok(())).await
    }

    async fn cancel_task(
        &self,
        _: CancelTaskParams,
        _: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        heavy(Ok(())).await
    }

    async fn list_skills(
        &self,
        _: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListSkillsResult, McpError> {
        heavy(Err(McpError::invalid_params("no skills", None))).await
    }

    async fn get_skill(
        &self,
        _: GetSkillRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<GetSkillResult, McpError> {
        heavy(Err(McpError::invalid_params("no skill", None))).await
    }

    async fn on_custom_request(
        &self,
        _: CustomRequest,
        _: RequestContext<RoleServer>,
    ) -> Result<CustomResult, McpError> {
        heavy(Ok(CustomResult::new(serde_json::Value::Null))).await
    }
}

/// Parameters of a request, from their JSON.
fn params<T: serde::de::DeserializeOwned>(json: serde_json::Value) -> T {
    serde_json::from_value(json).expect("the request's parameters")
}

#[tokio::test]
async fn no_request_of_a_server_is_larger_than_a_tool_call() {
    let server = SecureServerBuilder::with_router(Heavy, SecureToolRouter::new()).build();
    let session = crate::context::tests::Open::new().await;
    let context = || RequestContext::new(rmcp::model::NumberOrString::Number(1), session.peer());
    let call = std::mem::size_of_val(&ServerHandler::call_tool(
        &server,
        params::<CallToolRequestParams>(serde_json::json!({ "name": "lookup" })),
        context(),
    ));
    let no_params = || Some(PaginatedRequestParams::default());
    let sizes = [
        (
            "ping",
            std::mem::size_of_val(&ServerHandler::ping(&server, context())),
        ),
        (
            "completion/complete",
            std::mem::size_of_val(&ServerHandler::complete(
                &server,
                params(serde_json::json!({
                    "ref": { "type": "ref/prompt", "name": "p" },
                    "argument": { "name": "a", "value": "" },
                })),
                context(),
            )),
        ),
        (
            "logging/setLevel",
            std::mem::size_of_val(&ServerHandler::set_level(
                &server,
                params(serde_json::json!({ "level": "debug" })),
                context(),
            )),
        ),
        (
            "prompts/get",
            std::mem::size_of_val(&ServerHandler::get_prompt(
                &server,
                params(serde_json::json!({ "name": "p" })),
                context(),
            )),
        ),
        (
            "prompts/list",
            std::mem::size_of_val(&ServerHandler::list_prompts(
                &server,
                no_params(),
                context(),
            )),
        ),
        (
            "resources/list",
            std::mem::size_of_val(&ServerHandler::list_resources(
                &server,
                no_params(),
                context(),
            )),
        ),
        (
            "resources/read",
            std::mem::size_of_val(&ServerHandler::read_resource(
                &server,
                params(serde_json::json!({ "uri": "x:y" })),
                context(),
            )),
        ),
        (
            "resources/subscribe",
            std::mem::size_of_val(&ServerHandler::subscribe(
                &server,
                params(serde_json::json!({ "uri": "x:y" })),
                context(),
            )),
        ),
        (
            "resources/unsubscribe",
            std::mem::size_of_val(&ServerHandler::unsubscribe(
                &server,
                params(serde_json::json!({ "uri": "x:y" })),
                context(),
            )),
        ),
        (
            "resources/templates/list",
            std::mem::size_of_val(&ServerHandler::list_resource_templates(
                &server,
                no_params(),
                context(),
            )),
        ),
        (
            "resources/directory/read",
            std::mem::size_of_val(&ServerHandler::read_resource_directory(
                &server,
                params(serde_json::json!({ "uri": "x:y" })),
                context(),
            )),
        ),
        (
            "tasks/get",
            std::mem::size_of_val(&ServerHandler::get_task(
                &server,
                params(serde_json::json!({ "taskId": "t" })),
                context(),
            )),
        ),
        (
            "tasks/update",
            std::mem::size_of_val(&ServerHandler::update_task(
                &server,
                params(serde_json::json!({ "taskId": "t", "inputResponses": {} })),
                context(),
            )),
        ),
        (
            "tasks/cancel",
            std::mem::size_of_val(&ServerHandler::cancel_task(
                &server,
                params(serde_json::json!({ "taskId": "t" })),
                context(),
            )),
        ),
        (
            "skills/list",
            std::mem::size_of_val(&ServerHandler::list_skills(&server, no_params(), context())),
        ),
        (
            "skills/get",
            std::mem::size_of_val(&ServerHandler::get_skill(
                &server,
                params(serde_json::json!({ "uri": "skill://x" })),
                context(),
            )),
        ),
        (
            "a custom request",
            std::mem::size_of_val(&ServerHandler::on_custom_request(
                &server,
                CustomRequest::new("x/y", None),
                context(),
            )),
        ),
    ];
    for (method, size) in sizes {
        assert!(
            size <= call,
            "{method}'s future is {size} bytes, a tools/call's {call}"
        );
    }
}
