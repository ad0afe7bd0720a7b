use agora_kernel::{Decider, Principal};
use serde::{Deserialize, Serialize};

use crate::{CatalogError, CategoryCommand, CategoryEvent};

/// Longest category name, in characters, after trimming.
pub const MAX_NAME_CHARS: usize = 100;
/// Longest category id.
pub const MAX_CATEGORY_ID_CHARS: usize = 64;

/// Whether `id` is a category id: 1 to 64 characters of `a-z 0-9 -`.
pub fn is_category_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_CATEGORY_ID_CHARS
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CategoryStatus {
    /// No `CategoryCreated` yet: the stream is empty.
    #[default]
    New,
    Active,
}

/// A category of the catalog tree, folded from its events.
///
/// The parent is fixed when the category is created and no command changes it. A category can
/// therefore only point at a category that was created before it, so following parents always
/// goes back in time and the tree can never hold a cycle. That argument needs one thing this
/// aggregate cannot see from its own stream: that the parent exists when the child is created.
/// The caller (the catalog service or the back office) must check it before sending `Create`;
/// otherwise `a → b` (b not yet created) followed by `b → a` would make a loop. The aggregate
/// itself refuses the one cycle it can see, a category that is its own parent.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Category {
    pub status: CategoryStatus,
    pub name: String,
    pub parent_id: Option<String>,
}

/// What anyone sees of a category.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CategoryView {
    pub id: String,
    pub version: u64,
    pub name: String,
    pub parent_id: Option<String>,
}

fn may_edit(by: &Principal) -> bool {
    match by {
        Principal::System { .. } => true,
        Principal::Staff { role, .. } => role == "admin" || role == "staff",
        Principal::Vendor { .. } | Principal::Guest { .. } | Principal::Customer { .. } => false,
    }
}

/// A name trimmed of surrounding spaces, or why it is not a name.
fn valid_name(name: &str) -> Result<String, CatalogError> {
    let trimmed = name.trim();
    if trimmed.is_empty() || trimmed.chars().count() > MAX_NAME_CHARS {
        return Err(CatalogError::InvalidName);
    }
    Ok(trimmed.to_string())
}

impl Decider for Category {
    const TYPE: &'static str = "category";
    type Command = CategoryCommand;
    type Event = CategoryEvent;
    type Error = CatalogError;
    type View = CategoryView;

    fn decide(
        &self,
        id: &str,
        command: &CategoryCommand,
        by: &Principal,
    ) -> Result<Vec<CategoryEvent>, CatalogError> {
        if !may_edit(by) {
            return Err(CatalogError::Forbidden);
        }
        match command {
            CategoryCommand::Create { name, parent_id } => {
                if self.status != CategoryStatus::New {
                    return Err(CatalogError::AlreadyExists);
                }
                if !is_category_id(id) {
                    return Err(CatalogError::InvalidCategoryId);
                }
                let name = valid_name(name)?;
                if let Some(parent) = parent_id {
                    if !is_category_id(parent) || parent == id {
                        return Err(CatalogError::InvalidParent);
                    }
                }
                Ok(vec![CategoryEvent::CategoryCreated {
                    name,
                    parent_id: parent_id.clone(),
                }])
            }
            CategoryCommand::Rename { name } => {
                if self.status == CategoryStatus::New {
                    return Err(CatalogError::NotFound);
                }
                let name = valid_name(name)?;
                if name == self.name {
                    return Ok(vec![]);
                }
                Ok(vec![CategoryEvent::CategoryRenamed { name }])
            }
        }
    }

    fn evolve(&mut self, event: &CategoryEvent) {
        match event {
            CategoryEvent::CategoryCreated { name, parent_id } => {
                self.status = CategoryStatus::Active;
                self.name = name.clone();
                self.parent_id = parent_id.clone();
            }
            CategoryEvent::CategoryRenamed { name } => self.name = name.clone(),
        }
    }

    /// Categories are public: anyone may read one that exists.
    fn authorize_read(&self, _by: &Principal) -> Result<(), CatalogError> {
        match self.status {
            CategoryStatus::New => Err(CatalogError::NotFound),
            CategoryStatus::Active => Ok(()),
        }
    }

    fn view(&self, id: &str, version: u64) -> CategoryView {
        CategoryView {
            id: id.to_string(),
            version,
            name: self.name.clone(),
            parent_id: self.parent_id.clone(),
        }
    }

    fn event_type(event: &CategoryEvent) -> &'static str {
        event.event_type()
    }
}

// cqrs-es compatibility: the aggregate also runs inside `cqrs_es::CqrsFramework` and its
// `TestFramework`, delegating to the pure `decide`/`evolve` above.
agora_kernel::cqrs_aggregate!(Category, CategoryEvent);

#[cfg(test)]
mod tests {
    use super::*;
    use agora_kernel::CustomerId;

    const ID: &str = "mens-shirts";

    fn staff(role: &str) -> Principal {
        Principal::Staff {
            id: "sam".into(),
            role: role.into(),
        }
    }

    fn created() -> CategoryEvent {
        CategoryEvent::CategoryCreated {
            name: "Men's shirts".into(),
            parent_id: Some("men".into()),
        }
    }

    fn create(name: &str, parent_id: Option<&str>) -> CategoryCommand {
        CategoryCommand::Create {
            name: name.into(),
            parent_id: parent_id.map(str::to_string),
        }
    }

    fn state(given: &[CategoryEvent]) -> Category {
        let mut category = Category::default();
        for e in given {
            category.evolve(e);
        }
        category
    }

    /// Given events, when a command by a principal on category `id`, then these events or this
    /// error.
    fn check(
        given: Vec<CategoryEvent>,
        by: Principal,
        id: &str,
        when: CategoryCommand,
        then: Result<Vec<CategoryEvent>, CatalogError>,
    ) {
        assert_eq!(state(&given).decide(id, &when, &by), then, "{when:?}");
    }

    #[test]
    fn staff_create_a_category_under_a_parent() {
        for by in [staff("admin"), staff("staff"), Principal::system("seed")] {
            check(
                vec![],
                by,
                ID,
                create(" Men's shirts ", Some("men")),
                Ok(vec![created()]),
            );
        }
        check(
            vec![],
            staff("admin"),
            "men",
            create("Men", None),
            Ok(vec![CategoryEvent::CategoryCreated {
                name: "Men".into(),
                parent_id: None,
            }]),
        );
    }

    #[test]
    fn only_admins_staff_and_the_system_change_categories() {
        let others = [
            staff("vendor"),
            staff("support"),
            Principal::Guest {
                token_sha256: "0".repeat(64),
            },
            Principal::Customer {
                id: CustomerId::new_random(),
            },
        ];
        for by in others {
            check(
                vec![],
                by.clone(),
                ID,
                create("Shirts", None),
                Err(CatalogError::Forbidden),
            );
            check(
                vec![created()],
                by,
                ID,
                CategoryCommand::Rename {
                    name: "Tops".into(),
                },
                Err(CatalogError::Forbidden),
            );
        }
    }

    #[test]
    fn a_category_cannot_be_created_twice() {
        check(
            vec![created()],
            staff("admin"),
            ID,
            create("Shirts", None),
            Err(CatalogError::AlreadyExists),
        );
    }

    #[test]
    fn a_category_id_is_a_slug() {
        let long = "a".repeat(65);
        for id in [
            "",
            "Shirts",
            "mens_shirts",
            "mens shirts",
            "mens.shirts",
            &long,
        ] {
            check(
                vec![],
                staff("admin"),
                id,
                create("Shirts", None),
                Err(CatalogError::InvalidCategoryId),
            );
        }
        assert!(is_category_id(&"a".repeat(64)));
        assert!(is_category_id("t-shirts-2"));
    }

    #[test]
    fn a_name_is_1_to_100_characters_after_trimming() {
        for name in ["", "   ", &"n".repeat(101)] {
            check(
                vec![],
                staff("admin"),
                ID,
                create(name, None),
                Err(CatalogError::InvalidName),
            );
            check(
                vec![created()],
                staff("admin"),
                ID,
                CategoryCommand::Rename { name: name.into() },
                Err(CatalogError::InvalidName),
            );
        }
        assert!(state(&[])
            .decide(ID, &create(&"ü".repeat(100), None), &staff("admin"))
            .is_ok());
    }

    #[test]
    fn a_category_cannot_be_its_own_parent() {
        check(
            vec![],
            staff("admin"),
            ID,
            create("Shirts", Some(ID)),
            Err(CatalogError::InvalidParent),
        );
    }

    #[test]
    fn a_parent_id_must_be_a_category_id() {
        for parent in ["", "Men", "m/en"] {
            check(
                vec![],
                staff("admin"),
                ID,
                create("Shirts", Some(parent)),
                Err(CatalogError::InvalidParent),
            );
        }
    }

    #[test]
    fn renaming_records_the_trimmed_name() {
        check(
            vec![created()],
            staff("staff"),
            ID,
            CategoryCommand::Rename {
                name: " Shirts ".into(),
            },
            Ok(vec![CategoryEvent::CategoryRenamed {
                name: "Shirts".into(),
            }]),
        );
        let renamed = state(&[
            created(),
            CategoryEvent::CategoryRenamed {
                name: "Shirts".into(),
            },
        ]);
        assert_eq!(renamed.name, "Shirts");
        // The parent is fixed at creation; renaming leaves it alone.
        assert_eq!(renamed.parent_id.as_deref(), Some("men"));
    }

    #[test]
    fn renaming_to_the_same_name_changes_nothing() {
        check(
            vec![created()],
            staff("admin"),
            ID,
            CategoryCommand::Rename {
                name: "Men's shirts".into(),
            },
            Ok(vec![]),
        );
    }

    #[test]
    fn renaming_a_missing_category_is_not_found() {
        check(
            vec![],
            staff("admin"),
            ID,
            CategoryCommand::Rename {
                name: "Shirts".into(),
            },
            Err(CatalogError::NotFound),
        );
    }

    #[test]
    fn anyone_may_read_a_category_that_exists() {
        let category = state(&[created()]);
        let readers = [
            Principal::Guest {
                token_sha256: "0".repeat(64),
            },
            Principal::Customer {
                id: CustomerId::new_random(),
            },
            staff("vendor"),
            staff("admin"),
        ];
        for by in &readers {
            assert_eq!(category.authorize_read(by), Ok(()));
            assert_eq!(
                Category::default().authorize_read(by),
                Err(CatalogError::NotFound)
            );
        }
        assert_eq!(
            category.view(ID, 1),
            CategoryView {
                id: ID.into(),
                version: 1,
                name: "Men's shirts".into(),
                parent_id: Some("men".into()),
            }
        );
    }

    #[tokio::test]
    async fn the_cqrs_es_aggregate_delegates_to_decide() {
        use crate::CqrsEnvelope;
        use cqrs_es::test::TestFramework;
        TestFramework::<Category>::with(())
            .given(vec![created()])
            .when_async(CqrsEnvelope {
                id: ID.into(),
                by: staff("admin"),
                command: CategoryCommand::Rename {
                    name: "Shirts".into(),
                },
            })
            .await
            .then_expect_events(vec![CategoryEvent::CategoryRenamed {
                name: "Shirts".into(),
            }]);
    }
}
