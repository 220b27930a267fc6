{{ config(tags=["predictions"]) }}
{#- Every customer's list has the same length and ranks 1..n without gaps: a short or gapped list means the
    scoring step lost rows. -#}
with lists as (
    select customer_id, count(*) as products, min(recommendation_rank) as first_rank, max(recommendation_rank) as last_rank
    from {{ ref('customer_next_best_products') }}
    group by customer_id
)
select * from lists
where first_rank <> 1
    or last_rank <> products
    or products <> (select max(products) from lists)
