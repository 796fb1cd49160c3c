//! A single hand-written CRUD service on axum + sqlx: the baseline of bench/footprint.py's
//! build, memory and start-up figures. `DATABASE_URL` and `PORT` from the environment;
//! `GET /health/ready` answers once the table exists.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use uuid::Uuid;

#[derive(Serialize, Deserialize, sqlx::FromRow)]
struct Note {
    #[serde(default = "Uuid::new_v4")]
    id: Uuid,
    title: String,
}

type Answer<T> = Result<T, (StatusCode, String)>;

fn failed(e: sqlx::Error) -> (StatusCode, String) {
    (StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
}

async fn list(State(db): State<PgPool>) -> Answer<Json<Vec<Note>>> {
    let rows = sqlx::query_as::<_, Note>("SELECT id, title FROM note ORDER BY title LIMIT 20")
        .fetch_all(&db)
        .await
        .map_err(failed)?;
    Ok(Json(rows))
}

async fn create(State(db): State<PgPool>, Json(note): Json<Note>) -> Answer<Json<Note>> {
    sqlx::query("INSERT INTO note (id, title) VALUES ($1, $2)")
        .bind(note.id)
        .bind(&note.title)
        .execute(&db)
        .await
        .map_err(failed)?;
    Ok(Json(note))
}

async fn read(State(db): State<PgPool>, Path(id): Path<Uuid>) -> Answer<Json<Note>> {
    sqlx::query_as::<_, Note>("SELECT id, title FROM note WHERE id = $1")
        .bind(id)
        .fetch_optional(&db)
        .await
        .map_err(failed)?
        .map(Json)
        .ok_or((StatusCode::NOT_FOUND, "no such note".into()))
}

async fn update(
    State(db): State<PgPool>,
    Path(id): Path<Uuid>,
    Json(note): Json<Note>,
) -> Answer<StatusCode> {
    sqlx::query("UPDATE note SET title = $2 WHERE id = $1")
        .bind(id)
        .bind(&note.title)
        .execute(&db)
        .await
        .map_err(failed)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn delete(State(db): State<PgPool>, Path(id): Path<Uuid>) -> Answer<StatusCode> {
    sqlx::query("DELETE FROM note WHERE id = $1")
        .bind(id)
        .execute(&db)
        .await
        .map_err(failed)?;
    Ok(StatusCode::NO_CONTENT)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("DATABASE_URL")?;
    let port: u16 = std::env::var("PORT").map_or(Ok(8000), |p| p.parse())?;
    let db = PgPool::connect(&url).await?;
    sqlx::query("CREATE TABLE IF NOT EXISTS note (id UUID PRIMARY KEY, title TEXT NOT NULL)")
        .execute(&db)
        .await?;
    let app = Router::new()
        .route("/health/ready", get(|| async { "ready" }))
        .route("/notes", get(list).post(create))
        .route("/notes/{id}", get(read).put(update).delete(delete))
        .with_state(db);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    axum::serve(listener, app).await?;
    Ok(())
}
